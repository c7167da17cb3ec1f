//! Fuzzing the CSV importers (channel codes, stores) with hostile text: quotes, separators, line
//! breaks, control and bidirectional characters, formulas, huge fields. Whatever the file, they
//! answer line errors or valid rows, never a panic; every line error names a line of the file; and
//! no accepted store carries a character a name may not hold or exceeds its length.

use pond_app::acquisition::{import::parse_codes_csv, regional::parse_csv};
use pond_core::text::is_forbidden_in_name;
use proptest::prelude::*;

/// A field of hostile text.
fn field() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(",".to_owned()),
            Just("\"".to_owned()),
            Just("\n".to_owned()),
            Just("\r".to_owned()),
            Just("\t".to_owned()),
            Just("\u{202E}".to_owned()),
            Just("\0".to_owned()),
            Just("=".to_owned()),
            Just("|".to_owned()),
            Just(":".to_owned()),
            Just("31.2".to_owned()),
            Just("121.5".to_owned()),
            Just("u1".to_owned()),
            "[a-z0-9 ]{1,6}",
            "[\u{4e00}-\u{4e20}]{1,4}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn quoted(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.to_owned() }
}

fn csv(header: &str, rows: &[Vec<String>], quote: bool) -> String {
    let mut out = format!("{header}\n");
    for row in rows {
        let cells: Vec<String> = row.iter().map(|f| if quote { quoted(f) } else { f.clone() }).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn store_files_give_line_errors_or_clean_stores(
        rows in proptest::collection::vec(proptest::collection::vec(field(), 4..8), 0..12),
        quote in any::<bool>(),
    ) {
        let text = csv("name,address,city,latitude,longitude,staff", &rows, quote);
        let lines = text.lines().count();
        match parse_csv(&text, &|u| u == "u1") {
            Ok(stores) => {
                for s in stores {
                    prop_assert!(!s.name.is_empty() && s.name.chars().count() <= 64);
                    prop_assert!(!s.city.is_empty() && s.city.chars().count() <= 32);
                    prop_assert!(s.address.chars().count() <= 128);
                    for text in [&s.name, &s.city, &s.address] {
                        prop_assert!(!text.chars().any(is_forbidden_in_name), "{:?}", text);
                    }
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {}", e.line, lines);
                }
            }
        }
    }

    #[test]
    fn code_files_never_panic(
        rows in proptest::collection::vec(proptest::collection::vec(field(), 8..12), 0..12),
        quote in any::<bool>(),
    ) {
        let text = csv(
            "name,channel_group,mode,strategy,state,staff,daily_cap,auto_tags,welcome_id,remark_prefix",
            &rows,
            quote,
        );
        let _ = parse_codes_csv(&text);
    }

    #[test]
    fn any_text_as_a_file_never_panics(text in ".{0,300}") {
        let _ = parse_csv(&text, &|_| true);
        let _ = parse_codes_csv(&text);
    }
}
