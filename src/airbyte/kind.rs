//! Sources and destinations are both "actors" in Airbyte: the same calls with different names.

/// Which of the two an actor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Source,
    Destination,
}

/// What differs between sources and destinations in Airbyte's API: names, nothing else.
pub struct KindNames {
    /// `source` / `destination`, as in Airbyte's paths and docker repositories.
    pub noun: &'static str,
    /// The docker repository prefix of Airbyte's own connectors of this kind.
    pub repository_prefix: &'static str,
    /// `sourceId` / `destinationId`: the id field of Airbyte's request bodies.
    pub(super) id_field: &'static str,
    pub(super) definition_id_field: &'static str,
    pub(super) definitions_call: &'static str,
    pub(super) create_call: &'static str,
    pub(super) get_call: &'static str,
    pub(super) delete_call: &'static str,
    pub(super) list_call: &'static str,
    pub(super) update_call: &'static str,
    /// Checks a configuration no actor has: Airbyte's scheduler runs the connector's check.
    pub(super) scheduler_check_call: &'static str,
    /// Checks a stored actor's changed configuration, its stored secrets filled in.
    pub(super) check_update_call: &'static str,
    pub(super) spec_call: &'static str,
}

const SOURCE: KindNames = KindNames {
    noun: "source",
    repository_prefix: "airbyte/source-",
    id_field: "sourceId",
    definition_id_field: "sourceDefinitionId",
    definitions_call: "source_definitions/list_for_workspace",
    create_call: "sources/create",
    get_call: "sources/get",
    delete_call: "sources/delete",
    list_call: "sources/list",
    update_call: "sources/update",
    scheduler_check_call: "scheduler/sources/check_connection",
    check_update_call: "sources/check_connection_for_update",
    spec_call: "source_definition_specifications/get",
};

const DESTINATION: KindNames = KindNames {
    noun: "destination",
    repository_prefix: "airbyte/destination-",
    id_field: "destinationId",
    definition_id_field: "destinationDefinitionId",
    definitions_call: "destination_definitions/list_for_workspace",
    create_call: "destinations/create",
    get_call: "destinations/get",
    delete_call: "destinations/delete",
    list_call: "destinations/list",
    update_call: "destinations/update",
    scheduler_check_call: "scheduler/destinations/check_connection",
    check_update_call: "destinations/check_connection_for_update",
    spec_call: "destination_definition_specifications/get",
};

impl Kind {
    pub fn names(self) -> &'static KindNames {
        match self {
            Kind::Source => &SOURCE,
            Kind::Destination => &DESTINATION,
        }
    }

    /// `source` / `destination`.
    pub fn noun(self) -> &'static str {
        self.names().noun
    }

    /// `airbyte/source-` / `airbyte/destination-`.
    pub fn repository_prefix(self) -> &'static str {
        self.names().repository_prefix
    }
}
