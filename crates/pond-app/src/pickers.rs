//! What the console's pickers choose from, and the names shown instead of ids: employees,
//! departments, tags and customer groups of a corp, each with search keys (name, pinyin initials,
//! full pinyin, id) so "zs", "zhangsan", "张三" and "u1001" all find 张三.

use std::collections::HashMap;

use pinyin::ToPinyin;

use crate::{App, AppError};

/// One choice in a picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickerOption {
    /// What the form posts (userid, tag id, department id, chat id).
    pub value: String,
    /// What the user reads.
    pub label: String,
    /// Extra text shown beside it (department, tag group, owner).
    pub meta: String,
    /// Lower-case search keys: pinyin initials, full pinyin, the id.
    pub search: String,
}

/// Pinyin initials and full pinyin of a name, e.g. `张三丰` → `zsf zhangsanfeng`. Characters
/// without pinyin (Latin letters, digits) are kept as they are.
pub fn pinyin_keys(text: &str) -> String {
    let mut initials = String::new();
    let mut full = String::new();
    for (ch, py) in text.chars().zip(text.to_pinyin()) {
        match py {
            Some(p) => {
                initials.push_str(p.first_letter());
                full.push_str(p.plain());
            }
            None if ch.is_alphanumeric() => {
                for lower in ch.to_lowercase() {
                    initials.push(lower);
                    full.push(lower);
                }
            }
            None => {}
        }
    }
    format!("{initials} {full}")
}

fn option(value: String, label: String, meta: String) -> PickerOption {
    let search = format!("{} {}", pinyin_keys(&label), value.to_lowercase());
    PickerOption { value, label, meta, search }
}

/// Department id → name, for the corp.
pub async fn department_names(app: &App, corp_id: i64) -> Result<HashMap<i64, String>, AppError> {
    Ok(pond_store::department::list(&app.db, corp_id)
        .await?
        .into_iter()
        .filter(|d| d.removed_at.is_none())
        .map(|d| (d.dept_id, d.name))
        .collect())
}

/// The names of a comma-separated list of department ids (`"1,3"` → `["总部", "华东区"]`).
pub fn departments_of(ids: &str, names: &HashMap<i64, String>) -> Vec<String> {
    ids.split(',')
        .filter_map(|id| id.trim().parse::<i64>().ok())
        .map(|id| names.get(&id).cloned().unwrap_or_else(|| id.to_string()))
        .collect()
}

/// Active employees, by name, with their first department.
pub async fn staff(app: &App, corp_id: i64) -> Result<Vec<PickerOption>, AppError> {
    let departments = department_names(app, corp_id).await?;
    let mut options: Vec<PickerOption> = pond_store::staff::all(&app.db, corp_id)
        .await?
        .into_iter()
        .filter(|s| s.removed_at.is_none() && s.status == pond_core::StaffStatus::Active.as_str())
        .map(|s| {
            let meta = departments_of(&s.department_ids, &departments).join(" / ");
            option(s.userid, s.name, meta)
        })
        .collect();
    options.sort_by(|a, b| a.search.cmp(&b.search));
    Ok(options)
}

/// Names by id, for showing names where rows hold ids.
#[derive(Debug, Clone, Default)]
pub struct Names(HashMap<String, String>);

impl Names {
    /// The name of `id`, or the id itself when no name is known (never synced, or removed).
    pub fn of(&self, id: &str) -> String {
        self.0.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }
}

/// Userid → name of every employee the corp has had (resigned ones too, for history).
pub async fn staff_names(app: &App, corp_id: i64) -> Result<Names, AppError> {
    Ok(Names(pond_store::staff::all(&app.db, corp_id).await?.into_iter().map(|s| (s.userid, s.name)).collect()))
}

/// Live tags, labelled by name, with their group.
pub async fn tags(app: &App, corp_id: i64) -> Result<Vec<PickerOption>, AppError> {
    Ok(pond_store::tag::all_live(&app.db, corp_id)
        .await?
        .into_iter()
        .map(|(id, group, name)| option(id, name, group))
        .collect())
}

/// Departments, by name.
pub async fn departments(app: &App, corp_id: i64) -> Result<Vec<PickerOption>, AppError> {
    Ok(pond_store::department::list(&app.db, corp_id)
        .await?
        .into_iter()
        .filter(|d| d.removed_at.is_none())
        .map(|d| option(d.dept_id.to_string(), d.name, String::new()))
        .collect())
}

/// Live customer groups, by name, with their owner's name.
pub async fn groups(app: &App, corp_id: i64) -> Result<Vec<PickerOption>, AppError> {
    let names = staff_names(app, corp_id).await?;
    Ok(pond_store::group::all_live(&app.db, corp_id)
        .await?
        .into_iter()
        .map(|(g, _)| {
            let owner = names.of(&g.owner_userid);
            option(g.chat_id, g.name, owner)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_keys_give_initials_and_full_pinyin() {
        assert_eq!(pinyin_keys("张三丰"), "zsf zhangsanfeng");
        assert_eq!(pinyin_keys("Amy 王"), "amyw amywang");
    }
}
