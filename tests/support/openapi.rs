//! Prints the whole API's contract, made from every function's route table:
//! `make openapi` writes it to `openapi.json`, and a test keeps that file current.

fn main() {
    println!("{:#}", wiizo_tests::contract());
}
