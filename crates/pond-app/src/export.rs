//! CSV exports: one writer for every download, so that quoting and formula neutralisation cannot be
//! forgotten. Files are UTF-8 with a byte-order mark (Excel and WPS then read the Chinese), quoted
//! by the `csv` crate (a name with a comma, quote or line break stays one cell), and every text
//! cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed
//! with `'`, which Excel, WPS and LibreOffice show as text.

use std::borrow::Cow;

/// One cell: text from people or WeCom (neutralised), or a number Pond computed (written as is).
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    Text(&'a str),
    Number(i64),
}

/// `text` as a spreadsheet will show it, never as a formula.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// A CSV file being written in memory.
pub struct CsvOut {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvOut {
    /// A file with this header row.
    pub fn new(header: &[&str]) -> Self {
        let mut writer =
            csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer("\u{feff}".as_bytes().to_vec());
        let _ = writer.write_record(header.iter().map(|h| neutralise(h).into_owned()));
        CsvOut { writer }
    }

    /// Appends one row.
    pub fn row(&mut self, cells: &[Cell<'_>]) {
        let fields = cells.iter().map(|c| match c {
            Cell::Text(t) => neutralise(t).into_owned(),
            Cell::Number(n) => n.to_string(),
        });
        // Writing to a Vec cannot fail.
        let _ = self.writer.write_record(fields);
    }

    /// The finished file.
    pub fn finish(self) -> String {
        let bytes = self.writer.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_rows_stay_whole() {
        let mut out = CsvOut::new(&["名称", "数量"]);
        out.row(&[Cell::Text("=cmd|' /C calc'!A0"), Cell::Number(-3)]);
        out.row(&[Cell::Text("two\nlines, \"quoted\""), Cell::Number(7)]);
        out.row(&[Cell::Text("@SUM(A1)"), Cell::Text("-1+2")]);
        let text = out.finish();
        assert!(text.starts_with('\u{feff}'));
        let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        assert_eq!(rows.len(), 3, "a line break inside a cell does not split the row");
        assert_eq!(rows[0], ["'=cmd|' /C calc'!A0", "-3"]);
        assert_eq!(rows[1][0], "two\nlines, \"quoted\"");
        assert_eq!(rows[2], ["'@SUM(A1)", "'-1+2"]);
    }
}
