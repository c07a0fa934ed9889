"""DynamoDB on the local stack, where the runtime changes how moto works (not what it
answers): transactions back up only the items they touch, and a query looks only at
its partition."""

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
            {"AttributeName": "v", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_v",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "v", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_sk",
                "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
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


def _query_all(dynamodb, **query) -> list[tuple[str, str]]:
    found, start = [], {}
    while True:
        page = dynamodb.query(TableName="ledger", Limit=2, **query, **start)
        found += [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return found
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def test_a_query_answers_from_its_own_partition_in_order_page_by_page(mini_stack):
    dynamodb = mini_stack.client("dynamodb")
    _table(dynamodb)
    for pk, sk, value in (("q", "a", "7"), ("q", "z", "0"), ("p", "c", "0")):
        dynamodb.put_item(
            TableName="ledger", Item={"pk": {"S": pk}, "sk": {"S": sk}, "v": {"N": value}}
        )
    partition_p = {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "p"}},
    }
    # The table, by its sort key
    assert _query_all(dynamodb, **partition_p) == [
        ("p", "a"),
        ("p", "b"),
        ("p", "c"),
        ("p", "gone"),
    ]
    # A local index, by its own sort key (ties by the table's)
    assert _query_all(dynamodb, IndexName="by_v", **partition_p) == [
        ("p", "c"),
        ("p", "a"),
        ("p", "b"),
        ("p", "gone"),
    ]
    # A global index still sees every partition
    assert sorted(
        _query_all(
            dynamodb,
            IndexName="by_sk",
            KeyConditionExpression="sk = :a",
            ExpressionAttributeValues={":a": {"S": "a"}},
        )
    ) == [("p", "a"), ("q", "a")]


def test_a_query_orders_numeric_sort_keys_by_value_not_by_their_digits(mini_stack):
    dynamodb = mini_stack.client("dynamodb")
    dynamodb.create_table(
        TableName="minutes",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
    )
    for at in ("100", "9", "-1", "10", "2.5"):
        dynamodb.put_item(TableName="minutes", Item={"pk": {"S": "m"}, "at": {"N": at}})
    found = dynamodb.query(
        TableName="minutes",
        KeyConditionExpression="pk = :m",
        ExpressionAttributeValues={":m": {"S": "m"}},
    )["Items"]
    assert [i["at"]["N"] for i in found] == ["-1", "2.5", "9", "10", "100"]
