//! The path normaliser round-trips: whatever a client sends, a normal form is normal
//! (normalise(normalise(p)) == normalise(p)), holds no dot segment, backslash, `;`, control
//! character, `%2F`/`%5C` or double encoding, and decodes to UTF-8.
#![no_main]

use edge_gateway_core::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(once) = normalize::path(raw) else { return };
    let twice = normalize::path(&once).expect("a normal form is accepted");
    assert_eq!(once, twice, "normalising twice changes nothing");
    assert!(once.starts_with('/'));
    assert!(once.split('/').all(|segment| segment != "." && segment != ".."), "{once}");
    assert!(!once.contains('\\') && !once.contains(';') && !once.contains("//"), "{once}");
    assert!(!once.chars().any(char::is_control), "{once}");
    let upper = once.to_ascii_uppercase();
    assert!(!upper.contains("%2F") && !upper.contains("%5C") && !upper.contains("%2E"), "{once}");
    assert!(once.bytes().all(|b| b.is_ascii_graphic()), "{once}");
});
