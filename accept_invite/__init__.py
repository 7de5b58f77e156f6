"""accept_invite: the customer's path from the emailed link, through sign-in, to the company and its welcome page."""
