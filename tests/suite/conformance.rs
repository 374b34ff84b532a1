//! The store conformance suite, on every backend.

mod sqlite {
    wiizo_tests::conformance_tests!(async { wiizo_tests::sqlite_store() });
}

mod dynamodb {
    wiizo_tests::conformance_tests!(wiizo_tests::dynamo_store());
}

mod postgres {
    wiizo_tests::conformance_tests!(wiizo_tests::pg_store());
}
