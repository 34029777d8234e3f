//! Arbitrary bytes as what a client sends on one connection, read by tiny_http's request reader
//! whole and in pieces of sizes the first bytes choose.

#![no_main]

use airbyte_wrapper_fuzz::framing::check_framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sizes, input) = data.split_at(data.len().min(4));
    let pieces: Vec<usize> = sizes.iter().map(|&b| usize::from(b % 64) + 1).collect();
    check_framing(input, &pieces);
});
