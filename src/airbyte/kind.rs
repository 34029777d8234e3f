//! Sources and destinations are both "actors" in Airbyte: the same calls with different names.

/// Which of the two an actor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Source,
    Destination,
}

impl Kind {
    /// `source` / `destination`, as in Airbyte's paths and docker repositories.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Destination => "destination",
        }
    }

    /// `airbyte/source-` / `airbyte/destination-`: the docker repository prefix of Airbyte's own
    /// connectors of this kind.
    pub fn repository_prefix(self) -> &'static str {
        match self {
            Kind::Source => "airbyte/source-",
            Kind::Destination => "airbyte/destination-",
        }
    }
}
