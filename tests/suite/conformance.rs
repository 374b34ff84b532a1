//! The store conformance suite, on every backend.

mod sqlite {
    wiizo_tests::conformance_tests!(wiizo_tests::sqlite_store());
}
