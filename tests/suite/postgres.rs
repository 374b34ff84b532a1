//! The PostgreSQL store as far as it is built (issue 17): its migrations on the seed's own
//! database, against a real cluster (`scripts/with-postgres.sh`).

use shared::store::postgres::PgStore;
use tokio_postgres::{Client, NoTls};
use wiizo_tests::{join_all, pg_database};

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("the test database answers");
    tokio::spawn(connection);
    client
}

/// One number of a query, as text.
async fn one(client: &Client, sql: &str) -> String {
    client
        .query_one(&format!("SELECT ({sql})::text"), &[])
        .await
        .expect(sql)
        .get(0)
}

#[tokio::test]
async fn a_database_of_the_seed_keeps_every_row_through_the_migrations_run_twice() {
    let url = pg_database().await;
    let seed = connect(&url).await;
    // The seed's schema, and rows the way the seed's web app wrote them.
    seed.batch_execute(include_str!("../fixtures/seed-schema.sql"))
        .await
        .expect("the seed's schema");
    seed.batch_execute(
        "INSERT INTO companies (id, name, settings) VALUES
           ('11111111-1111-4111-8111-111111111111', 'Padaria Pão Quente', '{\"timezone\": \"America/Sao_Paulo\"}');
         INSERT INTO users (id, email, full_name, company_id) VALUES
           ('22222222-2222-4222-8222-222222222222', 'ana@paoquente.com.br', 'Ana', '11111111-1111-4111-8111-111111111111');
         INSERT INTO leads (id, company_id, user_id, name, phone, status, custom_fields) VALUES
           ('33333333-3333-4333-8333-333333333333', '11111111-1111-4111-8111-111111111111',
            '22222222-2222-4222-8222-222222222222', 'João da Conceição', '+5511987654321', 'qualificado', '{\"origem\": \"site\"}');
         INSERT INTO conversations (id, lead_id, channel) VALUES
           ('44444444-4444-4444-8444-444444444444', '33333333-3333-4333-8333-333333333333', 'whatsapp');
         INSERT INTO messages (conversation_id, role, content) VALUES
           ('44444444-4444-4444-8444-444444444444', 'user', 'Oi, vocês entregam?'),
           ('44444444-4444-4444-8444-444444444444', 'assistant', 'Entregamos, sim!');
         INSERT INTO ai_agents (company_id, name, type, temperature) VALUES
           ('11111111-1111-4111-8111-111111111111', 'Vendas', 'sales', 0.4);",
    )
    .await
    .expect("the seed's rows");
    let store = PgStore::new(&url).expect("a store");
    assert_eq!(
        store.migrate().await.expect("migrate"),
        ["0001_seed", "0002_wiizo"]
    );
    assert_eq!(store.migrate().await.expect("again"), Vec::<String>::new());
    // Every row is there, as it was.
    for (sql, want) in [
        ("SELECT count(*) FROM companies", "1"),
        ("SELECT count(*) FROM users", "1"),
        (
            "SELECT name FROM leads WHERE phone = '+5511987654321'",
            "João da Conceição",
        ),
        ("SELECT custom_fields->>'origem' FROM leads", "site"),
        ("SELECT count(*) FROM messages", "2"),
        ("SELECT temperature FROM ai_agents", "0.40"),
        (
            "SELECT count(*) FROM pg_policies WHERE policyname <> 'wiizo_tenant'",
            "5",
        ),
    ] {
        assert_eq!(one(&seed, sql).await, want, "{sql}");
    }
}

#[tokio::test]
async fn an_empty_database_gets_the_seed_tables_once_from_two_processes_at_once() {
    let url = pg_database().await;
    let stores = [
        PgStore::new(&url).expect("a store"),
        PgStore::new(&url).expect("a store"),
    ];
    let applied = join_all(stores.iter().map(|s| s.migrate())).await;
    let mut names: Vec<String> = applied
        .into_iter()
        .flat_map(|r| r.expect("both finish"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["0001_seed", "0002_wiizo"],
        "applied by one of them only"
    );
    let client = connect(&url).await;
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' \
                  AND tablename IN ('companies', 'users', 'leads', 'conversations', 'messages', 'workflows', 'ai_agents')";
    assert_eq!(one(&client, tables).await, "7");
    assert_eq!(
        one(&client, "SELECT count(*) FROM wiizo_migrations").await,
        "2"
    );
    // A lead inserted as the seed's app does takes the seed's defaults.
    client
        .batch_execute(
            "INSERT INTO companies (id, name) VALUES ('55555555-5555-4555-8555-555555555555', 'Ótica');
             INSERT INTO leads (company_id, name) VALUES ('55555555-5555-4555-8555-555555555555', 'Marina');",
        )
        .await
        .expect("rows");
    assert_eq!(
        one(
            &client,
            "SELECT pipeline || '/' || status || '/' || score FROM leads"
        )
        .await,
        "novos-leads/novo/0"
    );
}
