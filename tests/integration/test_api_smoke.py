from tests.support.api import load_event


def test_seed_complete_example_creates_a_scheduled_campaign(api):
    # Given the seed's complete example with real contacts and an outbound number
    event = load_event("api_create_campaign.json")
    import json
    body = json.loads(event["body"])
    # When it is posted
    reply = api.post("/batch-calls", body)
    # Then it is created as given
    assert reply.status == 201, reply.body
    assert reply.body["status"] == "scheduled"
    assert reply.body["priority"] == 7
    assert reply.body["contacts_report"] == {"accepted": 1, "duplicates": 0, "invalid": []}
