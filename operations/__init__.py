"""Operations: the health probe and the OpenAPI document of the app."""
