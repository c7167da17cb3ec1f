//! Bulk creation of channel codes from CSV: every line checked first, a per-line report refuses
//! the whole file, and a contact way WeCom refuses midway undoes the codes already made.

use std::collections::BTreeMap;

use pond_core::{
    ValidationError,
    acquisition::{self, Rules},
};
use pond_store::channel_code::ChannelCode;

use crate::{
    App, AppError, Import, LineError,
    acquisition::codes::{CodeInput, create, delete, validate},
    audit::{self, AuditAction},
    auth::Actor,
};

/// Lines that parsed (with their line numbers) and the problems of the others.
pub type ParsedCodes = (Vec<(usize, CodeInput)>, Vec<LineError>);

/// Parses a code CSV: `name,channel_group,mode,strategy,state,staff,daily_cap,auto_tags,welcome_id,remark_prefix`
/// (staff as `userid[:weight]` separated by `|`, tags separated by `|`).
/// Returns the lines that parsed and the problems of the others (a bad header is the only error).
pub fn parse_codes_csv(text: &str) -> Result<ParsedCodes, Vec<LineError>> {
    let expected = [
        "name",
        "channel_group",
        "mode",
        "strategy",
        "state",
        "staff",
        "daily_cap",
        "auto_tags",
        "welcome_id",
        "remark_prefix",
    ];
    let mut reader = crate::error::csv_with_header(text, &expected)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = crate::error::csv_line(&record, i);
        let record = match record {
            Ok(r) if r.len() == expected.len() => r,
            Ok(r) => {
                errors.push(LineError::new(
                    line,
                    "line",
                    format!("has {} fields; {} are needed", r.len(), expected.len()),
                    format!("有 {} 列，应为 {} 列", r.len(), expected.len()),
                ));
                continue;
            }
            Err(e) => {
                errors.push(LineError::new(line, "line", e.to_string(), format!("无法读取：{e}")));
                continue;
            }
        };
        let staff: Result<Vec<acquisition::StaffWeight>, ValidationError> = record[5]
            .split('|')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once(':') {
                Some((u, w)) => {
                    w.parse().map(|weight| acquisition::StaffWeight { userid: u.into(), weight }).map_err(|_| {
                        ValidationError::new(
                            "staff",
                            format!("{s:?}: weight must be a whole number"),
                            format!("{s:?}：权重须为整数"),
                        )
                    })
                }
                None => Ok(acquisition::StaffWeight { userid: s.into(), weight: 1 }),
            })
            .collect();
        let cap = match record[6].trim() {
            "" => Ok(None),
            v => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| ValidationError::new("daily_cap", "must be a whole number", "须为整数")),
        };
        let welcome = match record[8].trim() {
            "" => Ok(None),
            v => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ValidationError::new("welcome_id", "must be a welcome message id", "须为欢迎语的编号")),
        };
        match (staff, cap, welcome) {
            (Ok(staff), Ok(daily_cap), Ok(welcome_id)) => out.push((
                line,
                CodeInput {
                    name: record[0].into(),
                    channel_group: record[1].into(),
                    mode: record[2].into(),
                    strategy: record[3].into(),
                    state: record[4].into(),
                    rules: Rules { staff, daily_cap, schedules: vec![], backup: vec![] },
                    auto_tags: record[7]
                        .split('|')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    welcome_id,
                    skip_verify: true,
                    remark_prefix: record[9].into(),
                },
            )),
            (Err(e), _, _) => errors.push(LineError::invalid(line, e)),
            (_, Err(e), _) => errors.push(LineError::invalid(line, e)),
            (_, _, Err(e)) => errors.push(LineError::invalid(line, e)),
        }
    }
    if errors.is_empty() && out.is_empty() {
        errors.push(LineError::new(2, "line", "the file has no codes", "文件中没有活码"));
    }
    Ok((out, errors))
}

/// Creates every code of a CSV, or none: all lines are validated first, and if WeCom refuses a
/// contact way midway, the codes already created are deleted again.
pub async fn import_csv(
    state: &App,
    actor: &Actor,
    corp_id: i64,
    text: &str,
) -> Result<Import<Vec<ChannelCode>>, AppError> {
    let (rows, mut errors) = match parse_codes_csv(text) {
        Ok(parsed) => parsed,
        Err(report) => return Ok(Import::Refused(report)),
    };
    let mut states = BTreeMap::new();
    for (line, input) in &rows {
        match validate(&state.db, corp_id, input.clone()).await {
            Ok(v) => {
                if let Some(first) = states.insert(v.input.state.clone(), *line) {
                    errors.push(LineError::new(
                        *line,
                        "state",
                        format!("{:?} already appears on line {first}", v.input.state),
                        format!("{:?} 已在第 {first} 行出现", v.input.state),
                    ));
                } else if pond_store::channel_code::find_by_state(&state.db, corp_id, &v.input.state).await?.is_some() {
                    errors.push(LineError::new(
                        *line,
                        "state",
                        format!("another code already uses {:?}", v.input.state),
                        format!("已有其他活码使用 {:?}", v.input.state),
                    ));
                }
            }
            Err(AppError::Invalid(e)) => errors.push(LineError::invalid(*line, e)),
            Err(e) => return Err(e),
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Ok(Import::Refused(errors));
    }
    let mut created = Vec::new();
    for (line, input) in rows {
        match create(state, actor, corp_id, input).await {
            Ok(code) => created.push(code),
            Err(e) => {
                for code in &created {
                    if let Err(undo) = delete(state, actor, corp_id, code.id).await {
                        tracing::error!(code_id = code.id, error = %undo, "could not undo a code of a refused import");
                    }
                }
                let zh = match &e {
                    AppError::Invalid(v) => v.reason_zh.clone(),
                    _ => "企业微信拒绝了该行的活码，整批未导入".to_owned(),
                };
                return Ok(Import::Refused(vec![LineError::new(line, "line", e.to_string(), zh)]));
            }
        }
    }
    let detail = format!("codes={}", created.len());
    audit::record(&state.db, corp_id, actor, AuditAction::ChannelCodeImport, "codes", &detail).await?;
    Ok(Import::Done(created))
}
