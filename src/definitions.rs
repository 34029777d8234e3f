//! Finding the workspace and the connector definition a client's `type` names, and which fields
//! of a definition's configuration are secrets (its spec), with an in-memory cache so that a
//! create with warm caches costs exactly one Airbyte call.
//!
//! Each cached item sits behind its own mutex that is held while it is fetched: concurrent requests
//! with a cold cache wait for one fetch instead of each making their own. A cached definition list
//! is indexed by every name a client may use, so that finding a type costs the same with 6000
//! definitions as with 60.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::warn;
use uuid::Uuid;

use crate::airbyte::{Airbyte, Definition, Kind};
use crate::error::ApiError;
use crate::secrets::SecretFields;
use crate::sync::lock;
use crate::text::{holds_at, truncate};

/// How many near matches an unknown-type answer suggests.
const SUGGESTIONS: usize = 5;

/// A type missing from a cached definition list refreshes it at most this often: a connector
/// added to Airbyte shows up within this long, and a client sending made-up types costs Airbyte
/// one list (about 430 KB on a real install) per this long, not one per request.
const REFRESH_ON_MISS: Duration = Duration::from_secs(10);

struct Cached<T> {
    value: T,
    fetched: Instant,
}

type Slot<T> = Mutex<Option<Cached<T>>>;

/// A definition's secret fields, cached: one slot per kind and definition id.
type SpecSlots = Mutex<HashMap<(Kind, Uuid), Arc<Slot<Arc<SecretFields>>>>>;

/// The workspace and the definition lists, fetched on first use and kept for `ttl`.
pub struct Directory {
    configured_workspace: Option<Uuid>,
    ttl: Duration,
    workspace: Slot<Uuid>,
    sources: Slot<Arc<DefinitionIndex>>,
    destinations: Slot<Arc<DefinitionIndex>>,
    /// Each definition's secret fields, read from its spec; a slot each, so that requests for
    /// one definition wait for one fetch and never for another definition's.
    specs: SpecSlots,
}

/// One kind's definitions, as Airbyte listed them, and where to find each by the names a client
/// may use (all but the id in ASCII lower case). Where names repeat, the first definition wins.
pub struct DefinitionIndex {
    /// Shared with the requests that resolved them, so that resolving one copies no strings.
    definitions: Vec<Arc<Definition>>,
    by_id: HashMap<Uuid, usize>,
    /// The connector name (`mysql`) and the full docker repository.
    by_repository: HashMap<String, usize>,
    /// The display name (`MySQL`), which is matched only when no repository matches.
    by_name: HashMap<String, usize>,
}

impl DefinitionIndex {
    /// The definition with this id.
    pub fn get(&self, id: Uuid) -> Option<&Definition> {
        self.by_id.get(&id).map(|&i| &*self.definitions[i])
    }

    pub fn new(definitions: Vec<Definition>, kind: Kind) -> DefinitionIndex {
        let (mut by_id, mut by_repository, mut by_name) =
            (HashMap::new(), HashMap::new(), HashMap::new());
        for (i, d) in definitions.iter().enumerate() {
            by_id.entry(d.id).or_insert(i);
            by_repository
                .entry(slug(d, kind).to_ascii_lowercase())
                .or_insert(i);
            by_repository
                .entry(d.docker_repository.to_ascii_lowercase())
                .or_insert(i);
            by_name.entry(d.name.to_ascii_lowercase()).or_insert(i);
        }
        DefinitionIndex {
            definitions: definitions.into_iter().map(Arc::new).collect(),
            by_id,
            by_repository,
            by_name,
        }
    }

    /// The definition `type_name` names: an id, a connector name, a docker repository or a
    /// display name; case-insensitive, surrounding spaces ignored.
    fn find(&self, type_name: &str) -> Option<&Arc<Definition>> {
        let wanted = type_name.trim();
        let index = match Uuid::parse_str(wanted) {
            Ok(id) => self.by_id.get(&id),
            Err(_) => {
                // Lowered into a copy only when it has capitals: most types arrive lower case.
                let wanted = match wanted.bytes().any(|b| b.is_ascii_uppercase()) {
                    true => Cow::Owned(wanted.to_ascii_lowercase()),
                    false => Cow::Borrowed(wanted),
                };
                self.by_repository
                    .get(&*wanted)
                    .or_else(|| self.by_name.get(&*wanted))
            }
        };
        index.map(|&i| &self.definitions[i])
    }
}

impl Directory {
    pub fn new(configured_workspace: Option<Uuid>, ttl: Duration) -> Directory {
        Directory {
            configured_workspace,
            ttl,
            workspace: Mutex::new(None),
            sources: Mutex::new(None),
            destinations: Mutex::new(None),
            specs: Mutex::new(HashMap::new()),
        }
    }

    /// The workspace to create in: `AIRBYTE_WORKSPACE_ID`, else the first one Airbyte lists.
    pub fn workspace(&self, client: &dyn Airbyte) -> Result<Uuid, ApiError> {
        if let Some(id) = self.configured_workspace {
            return Ok(id);
        }
        let mut slot = lock(&self.workspace);
        if let Some(cached) = slot.as_ref().filter(|c| c.fetched.elapsed() < self.ttl) {
            return Ok(cached.value);
        }
        let workspaces = client.workspaces()?;
        let Some(&first) = workspaces.first() else {
            return Err(ApiError::bad_gateway(
                "Airbyte has no workspace; create one in Airbyte or set AIRBYTE_WORKSPACE_ID",
            ));
        };
        *slot = Some(Cached {
            value: first,
            fetched: Instant::now(),
        });
        Ok(first)
    }

    /// The definition of `kind` that `type_name` names: its docker repository's connector name
    /// (`mysql` for `airbyte/source-mysql`), the full repository, its display name, or its id;
    /// all case-insensitive. A name not in the cached list refreshes it first when the list is
    /// older than `REFRESH_ON_MISS` (10 s); otherwise the answer comes from the cache.
    pub fn resolve(
        &self,
        client: &dyn Airbyte,
        kind: Kind,
        workspace: Uuid,
        type_name: &str,
    ) -> Result<Arc<Definition>, ApiError> {
        let cached = self.fetch(client, kind, workspace, self.ttl)?;
        if let Some(found) = cached.index.find(type_name) {
            return Ok(found.clone());
        }
        let index = match cached.fresh {
            true => cached.index,
            false => {
                self.fetch(client, kind, workspace, REFRESH_ON_MISS.min(self.ttl))?
                    .index
            }
        };
        match index.find(type_name) {
            Some(found) => Ok(found.clone()),
            None => Err(unknown_type(&index, kind, type_name)),
        }
    }

    /// The definitions of `kind`, from the cache when it is fresh.
    pub fn definitions(
        &self,
        client: &dyn Airbyte,
        kind: Kind,
        workspace: Uuid,
    ) -> Result<Arc<DefinitionIndex>, ApiError> {
        Ok(self.fetch(client, kind, workspace, self.ttl)?.index)
    }

    /// Which fields of `definition`'s configuration are secrets, from its spec, cached as long
    /// as the definitions. Never fails: when Airbyte cannot give the spec, key names decide and
    /// every string a client sends counts as a secret in messages (for `REFRESH_ON_MISS`, then
    /// the spec is asked for again).
    pub fn secrets(
        &self,
        client: &dyn Airbyte,
        kind: Kind,
        workspace: Uuid,
        definition: Uuid,
    ) -> Arc<SecretFields> {
        let slot = lock(&self.specs)
            .entry((kind, definition))
            .or_default()
            .clone();
        let mut slot = lock(&slot);
        if let Some(cached) = slot.as_ref().filter(|c| c.fetched.elapsed() < self.ttl) {
            return cached.value.clone();
        }
        let (fields, fetched) = match client.spec(kind, workspace, definition) {
            Ok(Some(spec)) => (SecretFields::from_spec(&spec), Instant::now()),
            Ok(None) => (SecretFields::unknown(), Instant::now()),
            Err(e) => {
                warn!("the spec of {} definition {definition} is not available ({e}); masking falls back to key names", kind.noun());
                let retry_in = self.ttl.saturating_sub(REFRESH_ON_MISS);
                (
                    SecretFields::unknown(),
                    Instant::now()
                        .checked_sub(retry_in)
                        .unwrap_or_else(Instant::now),
                )
            }
        };
        let fields = Arc::new(fields);
        *slot = Some(Cached {
            value: fields.clone(),
            fetched,
        });
        fields
    }

    /// The cached list, fetched first when there is none or it is older than `max_age`.
    fn fetch(
        &self,
        client: &dyn Airbyte,
        kind: Kind,
        workspace: Uuid,
        max_age: Duration,
    ) -> Result<Fetched, ApiError> {
        let mut slot = lock(match kind {
            Kind::Source => &self.sources,
            Kind::Destination => &self.destinations,
        });
        if let Some(cached) = slot.as_ref().filter(|c| c.fetched.elapsed() < max_age) {
            return Ok(Fetched {
                index: cached.value.clone(),
                fresh: false,
            });
        }
        let index = Arc::new(DefinitionIndex::new(
            client.definitions(kind, workspace)?,
            kind,
        ));
        *slot = Some(Cached {
            value: index.clone(),
            fetched: Instant::now(),
        });
        Ok(Fetched { index, fresh: true })
    }
}

/// A definition list and whether this request fetched it.
struct Fetched {
    index: Arc<DefinitionIndex>,
    fresh: bool,
}

/// The short connector name clients use: `mysql` for `airbyte/source-mysql`.
fn slug(definition: &Definition, kind: Kind) -> &str {
    let (repo, prefix) = (
        definition.docker_repository.as_str(),
        kind.repository_prefix(),
    );
    match holds_at(repo, 0, prefix) {
        true => &repo[prefix.len()..],
        false => repo,
    }
}

fn unknown_type(index: &DefinitionIndex, kind: Kind, type_name: &str) -> ApiError {
    let definitions = &index.definitions;
    let wanted = type_name.trim().to_ascii_lowercase();
    let mut ranked: Vec<(usize, &str)> = definitions
        .iter()
        .map(|d| slug(d, kind))
        // The spec lets `dockerRepository` be empty (or just the prefix); '' is no type to suggest.
        .filter(|s| !s.trim().is_empty())
        .map(|s| (distance(&wanted, &s.to_ascii_lowercase()), s))
        .collect();
    ranked.sort_unstable();
    ranked.dedup_by(|a, b| a.1 == b.1);
    let suggestions: Vec<String> = ranked
        .iter()
        .take(SUGGESTIONS)
        .map(|(_, s)| format!("'{s}'"))
        .collect();
    let hint = if suggestions.is_empty() {
        format!(
            "Airbyte lists no {} connectors in this workspace",
            kind.noun()
        )
    } else {
        format!("closest known types: {}", suggestions.join(", "))
    };
    ApiError::unprocessable(format!(
        "unknown {} type '{}'; {hint}",
        kind.noun(),
        truncate(type_name.trim(), 100)
    ))
}

/// Edit distance, with a bonus for containment (`postgres` is close to `postgresql`), on at most
/// the first 64 characters of each side so that hostile input stays cheap.
fn distance(a: &str, b: &str) -> usize {
    if !a.is_empty() && (b.contains(a) || a.contains(b)) {
        return a.len().abs_diff(b.len()).min(1);
    }
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: u128, name: &str, repo: &str) -> Definition {
        Definition {
            id: Uuid::from_u128(id),
            name: name.into(),
            docker_repository: repo.into(),
        }
    }

    fn sources() -> Vec<Definition> {
        vec![
            def(1, "MySQL", "airbyte/source-mysql"),
            def(2, "Postgres", "airbyte/source-postgres"),
            def(3, "Microsoft SQL Server (MSSQL)", "airbyte/source-mssql"),
            def(4, "My Custom API", "acme/custom-api"),
        ]
    }

    #[test]
    fn finds_by_slug_repository_name_and_id() {
        let s = DefinitionIndex::new(sources(), Kind::Source);
        let id = |t: &str| s.find(t).map(|d| d.id.as_u128());
        assert_eq!(id("mysql"), Some(1));
        assert_eq!(id("MySQL"), Some(1));
        assert_eq!(id(" POSTGRES "), Some(2));
        assert_eq!(id("airbyte/source-mssql"), Some(3));
        assert_eq!(id("Microsoft SQL Server (MSSQL)"), Some(3));
        assert_eq!(id("acme/custom-api"), Some(4));
        assert_eq!(id("my custom api"), Some(4));
        assert_eq!(id(&Uuid::from_u128(2).to_string()), Some(2));
        assert_eq!(id(&Uuid::from_u128(9).to_string()), None);
        assert_eq!(id("oracle"), None);
    }

    #[test]
    fn repository_names_win_over_display_names_and_the_first_of_equals_wins() {
        let s = DefinitionIndex::new(
            vec![
                def(1, "postgres", "acme/source-pg"),
                def(2, "Postgres", "airbyte/source-postgres"),
                def(3, "Other", "airbyte/source-postgres"),
                def(4, "Acme PG", "acme/source-pg"),
            ],
            Kind::Source,
        );
        let id = |t: &str| s.find(t).map(|d| d.id.as_u128());
        assert_eq!(id("postgres"), Some(2), "the connector name comes first");
        assert_eq!(id("airbyte/source-postgres"), Some(2));
        assert_eq!(id("acme/source-pg"), Some(1));
        assert_eq!(id("acme pg"), Some(4));
        assert_eq!(id("other"), Some(3));
    }

    #[test]
    fn unknown_type_suggests_the_closest() {
        let e = unknown_type(
            &DefinitionIndex::new(sources(), Kind::Source),
            Kind::Source,
            "mysq",
        );
        assert_eq!(e.status, 422);
        assert!(
            e.detail
                .starts_with("unknown source type 'mysq'; closest known types: 'mysql'"),
            "{}",
            e.detail
        );
        let e = unknown_type(
            &DefinitionIndex::new(Vec::new(), Kind::Destination),
            Kind::Destination,
            "s3",
        );
        assert!(
            e.detail.contains("no destination connectors"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn empty_repositories_are_never_suggested() {
        let defs = vec![
            def(1, "Empty", ""),
            def(2, "Prefix only", "airbyte/source-"),
            def(3, "Oracle", "airbyte/source-oracle"),
        ];
        let e = unknown_type(
            &DefinitionIndex::new(defs.clone(), Kind::Source),
            Kind::Source,
            "mysql",
        );
        assert_eq!(
            e.detail,
            "unknown source type 'mysql'; closest known types: 'oracle'"
        );
        assert_eq!(
            DefinitionIndex::new(defs.clone(), Kind::Source)
                .find("empty")
                .map(|d| d.id),
            Some(Uuid::from_u128(1))
        );
    }

    #[test]
    fn suggestions_are_at_most_five() {
        let many: Vec<Definition> = (0..20)
            .map(|i| def(i, "x", &format!("airbyte/source-db{i}")))
            .collect();
        let e = unknown_type(
            &DefinitionIndex::new(many, Kind::Source),
            Kind::Source,
            "db",
        );
        assert_eq!(e.detail.matches('\'').count() / 2, 1 + SUGGESTIONS);
    }

    #[test]
    fn distance_is_levenshtein_with_containment() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("postgres", "postgresql"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance(&"x".repeat(10_000), "y"), 64);
    }
}
