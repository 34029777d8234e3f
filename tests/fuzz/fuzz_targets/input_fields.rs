//! Arbitrary JSON values through each field check of `airbyte_wrapper::input`, which the body
//! target reaches only inside a well-formed object.

#![no_main]

use airbyte_wrapper::error::ApiError;
use airbyte_wrapper::input;
use airbyte_wrapper_fuzz::{check_list, check_rejection, check_text, check_timestamp};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

/// Runs `check` on `value` parsed as a JSON value, as the reparse of [`check_rejection`] needs.
fn detail<T>(value: &[u8], check: impl Fn(&RawValue) -> Result<T, ApiError>) -> Option<String> {
    let raw: &RawValue = serde_json::from_slice(value).ok()?;
    check(raw).err().map(|e| e.detail)
}

/// Checks one field function on `value`: on success with `accepted`, on failure as a rejection.
fn field<T>(
    value: &[u8],
    raw: &RawValue,
    check: impl Fn(&RawValue) -> Result<T, ApiError> + Copy,
    accepted: impl FnOnce(T),
) {
    match check(raw) {
        Ok(parsed) => accepted(parsed),
        Err(e) => check_rejection(value, &e, |b| detail(b, check)),
    }
}

fuzz_target!(|value: &[u8]| {
    let Ok(raw) = serde_json::from_slice::<&RawValue>(value) else {
        return;
    };
    let text = || serde_json::from_str::<String>(raw.get()).expect("accepted a non-string");
    field(
        value,
        raw,
        |r| input::string("name", Some(r), 16),
        |s| {
            check_text("name", &s, 16);
            assert_eq!(s, text().trim());
        },
    );
    field(
        value,
        raw,
        |r| input::object("config", Some(r)).map(|o| o.get().starts_with('{')),
        |is_object| assert!(is_object, "accepted a config that is not an object"),
    );
    field(
        value,
        raw,
        |r| input::uuid("sourceId", Some(r)),
        |u| assert_eq!(Some(u), uuid::Uuid::parse_str(text().trim()).ok()),
    );
    field(
        value,
        raw,
        |r| input::timestamp("created", Some(r)),
        |t| check_timestamp("created", Some(text().trim()), t),
    );
    field(
        value,
        raw,
        |r| input::string_list("streams", Some(r), 16),
        |list| check_list("streams", &list.expect("a list was given"), 16),
    );
});
