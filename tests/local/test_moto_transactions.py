"""DynamoDB transactions on the local stack back up only the items they touch (moto
copies whole tables), and a cancelled one still changes nothing."""

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.slow


def _table(dynamodb) -> str:
    dynamodb.create_table(
        TableName="ledger",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    for sk, value in (("a", "1"), ("b", "2"), ("gone", "3")):
        dynamodb.put_item(
            TableName="ledger", Item={"pk": {"S": "p"}, "sk": {"S": sk}, "v": {"N": value}}
        )
    return "ledger"


def _items(dynamodb) -> dict[str, str]:
    found = dynamodb.scan(TableName="ledger")["Items"]
    return {i["sk"]["S"]: i["v"]["N"] for i in found}


def _update(sk: str, value: str, condition: str | None = None) -> dict:
    update = {
        "TableName": "ledger",
        "Key": {"pk": {"S": "p"}, "sk": {"S": sk}},
        "UpdateExpression": "SET v = :v",
        "ExpressionAttributeValues": {":v": {"N": value}},
    }
    if condition:
        update["ConditionExpression"] = condition
    return {"Update": update}


def test_a_cancelled_transaction_puts_back_every_item_it_had_written(mini_stack):
    dynamodb = mini_stack.client("dynamodb")
    _table(dynamodb)
    before = _items(dynamodb)
    # When a transaction writes three items (a new one, an update, a delete) and then
    # fails its last condition
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "ledger",
                        "Item": {"pk": {"S": "p"}, "sk": {"S": "new"}, "v": {"N": "9"}},
                    }
                },
                _update("a", "10"),
                {"Delete": {"TableName": "ledger", "Key": {"pk": {"S": "p"}, "sk": {"S": "gone"}}}},
                _update("b", "20", condition="v = :v"),
            ]
        )
    # Then it is cancelled and the table is exactly as before
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(dynamodb) == before


def test_a_transaction_that_holds_writes_every_item(mini_stack):
    dynamodb = mini_stack.client("dynamodb")
    _table(dynamodb)
    holds = _update("b", "20")
    holds["Update"]["ConditionExpression"] = "v = :two"
    holds["Update"]["ExpressionAttributeValues"][":two"] = {"N": "2"}
    dynamodb.transact_write_items(TransactItems=[_update("a", "10"), holds])
    assert _items(dynamodb) == {"a": "10", "b": "20", "gone": "3"}
