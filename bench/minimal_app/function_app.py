"""The floor a cold start is measured against: a minimal HTTP function app over Table Storage (bench/cold_start.py).

One anonymous route that reads one entity, as the quickstarts write it: what any function app of this kind pays.
"""

import json
import os

import azure.functions as func
from azure.data.tables import TableClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="items/{key}", methods=["GET"])
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    table = TableClient.from_connection_string(os.environ["AzureWebJobsStorage"], table_name="Items")
    entity = table.get_entity(partition_key="items", row_key=req.route_params["key"])
    return func.HttpResponse(json.dumps(dict(entity)), mimetype="application/json")
