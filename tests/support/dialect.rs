//! The integration suites run once per Airbyte API: a test written once as `fn name(d: Dialect)`
//! is listed in [`dialects!`](crate::dialects), which makes it `config::name` and `public::name`.
//! The same fake Airbyte serves both APIs over one state, as a self-managed install does, so a
//! test sets the fake up once and asserts in the service's terms; where it asserts what Airbyte
//! received, [`Dialect::call`] names the call that does the same thing in each API.

use serde_json::{json, Value};

use super::{FakeAirbyte, Service};

/// Which of Airbyte's APIs the service under test speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Config,
    Public,
}

/// Config API calls and the public API call that does the same; `None` where the public API
/// needs no such call. Calls not listed are the same in both: what the public API asks of the
/// Config API beside it (checks, previews, specs, schema refreshes).
const PUBLIC_CALLS: &[(&str, Option<&str>)] = &[
    ("health", Some("GET health")),
    ("applications/token", Some("POST applications/token")),
    ("workspaces/list", None),
    ("workspaces/list_by_organization_id", Some("GET workspaces")),
    (
        "source_definitions/list_for_workspace",
        Some("GET workspaces/{id}/definitions/sources"),
    ),
    (
        "destination_definitions/list_for_workspace",
        Some("GET workspaces/{id}/definitions/destinations"),
    ),
    ("sources/create", Some("POST sources")),
    ("sources/get", Some("GET sources/{id}")),
    ("sources/update", Some("PUT sources/{id}")),
    ("sources/delete", Some("DELETE sources/{id}")),
    ("sources/list", Some("GET sources")),
    ("destinations/create", Some("POST destinations")),
    ("destinations/get", Some("GET destinations/{id}")),
    ("destinations/update", Some("PUT destinations/{id}")),
    ("destinations/delete", Some("DELETE destinations/{id}")),
    ("destinations/list", Some("GET destinations")),
    ("sources/discover_schema", Some("GET streams")),
    ("connections/create", Some("POST connections")),
    ("connections/get", Some("GET connections/{id}")),
    ("connections/update", Some("PATCH connections/{id}")),
    ("connections/delete", Some("DELETE connections/{id}")),
    ("connections/sync", Some("POST jobs")),
    ("connections/clear", Some("POST jobs")),
    ("jobs/get_without_logs", Some("GET jobs/{id}")),
    ("jobs/list", Some("GET jobs")),
    ("jobs/cancel", Some("DELETE jobs/{id}")),
    ("jobs/get_last_replication_job", Some("GET jobs")),
];

impl Dialect {
    /// `AIRBYTE_BASE_URL` for this API on `fake`.
    pub fn base_url(self, fake: &FakeAirbyte) -> String {
        match self {
            Dialect::Config => fake.base_url(),
            Dialect::Public => fake.public_url(),
        }
    }

    /// The service against `fake` in this dialect, with `env` besides.
    pub fn start(self, fake: &FakeAirbyte, env: &[(&str, &str)]) -> Service {
        let base_url = self.base_url(fake);
        let mut vars = vec![("AIRBYTE_BASE_URL", base_url.as_str())];
        vars.extend_from_slice(env);
        Service::start(fake, &vars)
    }

    /// The fake's name for the call that does what the Config API's `config_call` does, in this
    /// dialect. Panics for a Config API call the public API does without.
    pub fn call(self, config_call: &str) -> String {
        self.maybe_call(config_call)
            .unwrap_or_else(|| panic!("the public API has no call for {config_call}"))
    }

    /// [`Dialect::call`] for each of `config_calls`, leaving out those this dialect does without.
    pub fn calls(self, config_calls: &[&str]) -> Vec<String> {
        config_calls
            .iter()
            .filter_map(|c| self.maybe_call(c))
            .collect()
    }

    fn maybe_call(self, config_call: &str) -> Option<String> {
        match self {
            Dialect::Config => Some(config_call.to_string()),
            Dialect::Public => match PUBLIC_CALLS.iter().find(|(c, _)| *c == config_call) {
                Some((_, public)) => public.map(str::to_string),
                None => Some(config_call.to_string()),
            },
        }
    }

    pub fn is_public(self) -> bool {
        self == Dialect::Public
    }

    /// The field of a source's or destination's configuration in Airbyte's bodies.
    pub fn config_field(self) -> &'static str {
        match self {
            Dialect::Config => "connectionConfiguration",
            Dialect::Public => "configuration",
        }
    }

    /// The field of an actor's definition id in Airbyte's bodies; `noun` is `source` or
    /// `destination`.
    pub fn definition_field(self, noun: &str) -> String {
        match self {
            Dialect::Config => format!("{noun}DefinitionId"),
            Dialect::Public => "definitionId".to_string(),
        }
    }

    /// The body Airbyte must receive to create a source or destination (`noun`).
    pub fn create_body(
        self,
        noun: &str,
        workspace: &str,
        definition: &str,
        name: &str,
        config: Value,
    ) -> Value {
        json!({
            "workspaceId": workspace,
            self.definition_field(noun): definition,
            "name": name,
            self.config_field(): config,
        })
    }
}

/// Makes each listed `fn name(d: Dialect)` a test per dialect: `config::name` and `public::name`.
#[macro_export]
macro_rules! dialects {
    ($($name:ident),* $(,)?) => {
        mod config {
            $(#[test]
            fn $name() {
                super::$name($crate::support::Dialect::Config)
            })*
        }
        mod public {
            $(#[test]
            fn $name() {
                super::$name($crate::support::Dialect::Public)
            })*
        }
    };
}
