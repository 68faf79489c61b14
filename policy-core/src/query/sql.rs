//! A plan's condition as a parameterized SQL `WHERE` clause over a declared mapping
//! (`wire::SqlMapping`). Every value is a parameter, every name comes from the mapping (checked
//! to be a plain identifier), so no input reaches the SQL text. A path through another entity
//! type becomes a nested `IN (SELECT id …)`: no join multiplies rows, and the clause reads the
//! same in PostgreSQL and SQLite.

use serde_json::Value;

use crate::error::EngineError;
use crate::wire::{
    Condition, EntityRef, PathStep, SqlDialect, SqlFilter, SqlMapping, TableMapping,
};

/// `condition` on resources of `resource_type` as a `WHERE` clause.
pub(crate) fn to_sql(
    condition: &Condition,
    resource_type: &str,
    mapping: &SqlMapping,
) -> Result<SqlFilter, EngineError> {
    let mut writer = Writer {
        mapping,
        params: Vec::new(),
        aliases: 0,
    };
    let root = writer.table(resource_type)?;
    let alias = check_ident(&root.table)?;
    let where_clause = writer.condition(condition, &alias, resource_type)?;
    Ok(SqlFilter {
        where_clause,
        params: writer.params,
    })
}

struct Writer<'m> {
    mapping: &'m SqlMapping,
    params: Vec<Value>,
    aliases: usize,
}

fn unsupported(message: String) -> EngineError {
    EngineError::Unsupported(format!("SQL mapping: {message}"))
}

/// Names from a mapping go into SQL text quoted (`"user"` is a table, not PostgreSQL's
/// `user`), and only plain ones: letters, digits and `_`, so quoting cannot be escaped.
fn check_ident(name: &str) -> Result<String, EngineError> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(format!("\"{name}\""))
    } else {
        Err(unsupported(format!(
            "`{name}` is not a plain SQL identifier (letters, digits, _)"
        )))
    }
}

impl<'m> Writer<'m> {
    fn table(&self, entity_type: &str) -> Result<&'m TableMapping, EngineError> {
        self.mapping
            .tables
            .get(entity_type)
            .ok_or_else(|| unsupported(format!("no table for entity type `{entity_type}`")))
    }

    fn param(&mut self, value: Value) -> String {
        self.params.push(value);
        match self.mapping.dialect {
            SqlDialect::Postgres => format!("${}", self.params.len()),
            SqlDialect::Sqlite => format!("?{}", self.params.len()),
        }
    }

    /// `(v1, v2, …)` as parameters. Never empty: callers turn an empty set into `(1 = 0)`
    /// first (`x IN (NULL)` is NULL, and `NOT NULL` would drop the row too).
    fn list(&mut self, values: Vec<Value>) -> String {
        if values.is_empty() {
            // Unreachable through `condition`; still a list that matches nothing.
            return "(SELECT NULL WHERE 1 = 0)".into();
        }
        let parts: Vec<String> = values.into_iter().map(|v| self.param(v)).collect();
        format!("({})", parts.join(", "))
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        // Not a plain identifier a mapping could also name (those are quoted).
        format!("sesame_q{}", self.aliases)
    }

    /// `condition` on the row `alias` of a table of `entity_type`.
    fn condition(
        &mut self,
        condition: &Condition,
        alias: &str,
        entity_type: &str,
    ) -> Result<String, EngineError> {
        Ok(match condition {
            Condition::OneOf { values, .. } if values.is_empty() => "(1 = 0)".into(),
            Condition::In { entities, .. } if entities.is_empty() => "(1 = 0)".into(),
            Condition::True => "(1 = 1)".into(),
            Condition::False => "(1 = 0)".into(),
            Condition::And { args } | Condition::Or { args } => {
                let joiner = if matches!(condition, Condition::And { .. }) {
                    " AND "
                } else {
                    " OR "
                };
                let parts = args
                    .iter()
                    .map(|c| self.condition(c, alias, entity_type))
                    .collect::<Result<Vec<_>, _>>()?;
                format!("({})", parts.join(joiner))
            }
            Condition::Not { arg } => format!("(NOT {})", self.condition(arg, alias, entity_type)?),
            Condition::Eq { path, value } => {
                let value = plain_value(value);
                self.at_path(path, alias, entity_type, &mut |w, column| {
                    Ok(format!("{column} = {}", w.param(value.clone())))
                })?
            }
            Condition::Compare { path, cmp, value } => {
                if !["<", "<=", ">", ">="].contains(&cmp.as_str()) {
                    return Err(unsupported(format!("comparison `{cmp}`")));
                }
                let value = Value::from(*value);
                self.at_path(path, alias, entity_type, &mut |w, column| {
                    Ok(format!("{column} {cmp} {}", w.param(value.clone())))
                })?
            }
            Condition::Has { path } => {
                self.at_path(path, alias, entity_type, &mut |_, column| {
                    Ok(format!("{column} IS NOT NULL"))
                })?
            }
            Condition::OneOf { path, values } => {
                let values = values.iter().map(plain_value).collect();
                self.set_or_value(path, alias, entity_type, values)?
            }
            Condition::In { path, entities } => self.members(path, alias, entity_type, entities)?,
            Condition::Contains { path, value } => {
                let value = plain_value(value);
                self.set_test(path, alias, entity_type, vec![value])?
            }
        })
    }

    /// The entity at `path` is one of `entities` or a descendant of one.
    fn members(
        &mut self,
        path: &[PathStep],
        alias: &str,
        entity_type: &str,
        entities: &[EntityRef],
    ) -> Result<String, EngineError> {
        let ids: Vec<Value> = entities.iter().map(|e| Value::from(e.id.clone())).collect();
        if path.is_empty() {
            // The row itself: one of the entities of its own type, or below one of them.
            let table = self.table(entity_type)?;
            let id = format!("{alias}.{}", check_ident(&table.id)?);
            let own: Vec<Value> = entities
                .iter()
                .filter(|e| e.type_name == entity_type)
                .map(|e| Value::from(e.id.clone()))
                .collect();
            let listed = self.list(own);
            let Some(ancestors) = &table.ancestors else {
                return Err(unsupported(format!(
                    "`in` on `{entity_type}` needs its `ancestors` table"
                )));
            };
            let inner = self.list(ids);
            return Ok(format!(
                "({id} IN {listed} OR {id} IN (SELECT {owner} FROM {t} WHERE {value} IN {inner}))",
                owner = check_ident(&ancestors.owner)?,
                t = check_ident(&ancestors.table)?,
                value = check_ident(&ancestors.value)?,
            ));
        }
        let (last, _) = path
            .split_last()
            .ok_or_else(|| unsupported("empty path".into()))?;
        Err(unsupported(format!(
            "`{}.{} in …`: a hierarchy test through an attribute is not supported",
            last.entity_type,
            last.attribute.join(".")
        )))
    }

    /// The value at `path` (an entity id, or a set of them through its join table) is in `ids`.
    fn set_or_value(
        &mut self,
        path: &[PathStep],
        alias: &str,
        entity_type: &str,
        ids: Vec<Value>,
    ) -> Result<String, EngineError> {
        let (last, _) = path
            .split_last()
            .ok_or_else(|| unsupported("empty path".into()))?;
        let table = self.table(&last.entity_type)?;
        if table.sets.contains_key(&last.attribute.join(".")) {
            return self.set_test(path, alias, entity_type, ids);
        }
        self.at_path(path, alias, entity_type, &mut |w, column| {
            Ok(format!("{column} IN {}", w.list(ids.clone())))
        })
    }

    /// The set at `path` (a join table) holds one of `values`.
    fn set_test(
        &mut self,
        path: &[PathStep],
        alias: &str,
        entity_type: &str,
        values: Vec<Value>,
    ) -> Result<String, EngineError> {
        let (last, before) = path
            .split_last()
            .ok_or_else(|| unsupported("empty path".into()))?;
        let owner_table = self.table(&last.entity_type)?;
        let name = last.attribute.join(".");
        let join = owner_table
            .sets
            .get(&name)
            .ok_or_else(|| {
                unsupported(format!(
                    "no join table for the set `{}.{name}`",
                    last.entity_type
                ))
            })?
            .clone();
        let owner_id = check_ident(&owner_table.id)?.to_string();
        let here = if before.is_empty() {
            alias.to_string()
        } else {
            self.alias()
        };
        let listed = self.list(values);
        let j = self.alias();
        let test = format!(
            "EXISTS (SELECT 1 FROM {t} {j} WHERE {j}.{owner} = {here}.{owner_id} AND {j}.{value} IN {listed})",
            t = check_ident(&join.table)?,
            owner = check_ident(&join.owner)?,
            value = check_ident(&join.value)?,
        );
        if before.is_empty() {
            return Ok(test);
        }
        // Reach the owner through the path before it: its id is among the owners that pass.
        let sub = format!(
            "(SELECT {here}.{owner_id} FROM {t} {here} WHERE {test})",
            t = check_ident(&owner_table.table)?
        );
        self.through(before, alias, entity_type, &format!("IN {sub}"))
    }

    /// Applies `test` to the column at the end of `path`, following entity hops with
    /// nested selects.
    fn at_path(
        &mut self,
        path: &[PathStep],
        alias: &str,
        entity_type: &str,
        test: &mut dyn FnMut(&mut Self, &str) -> Result<String, EngineError>,
    ) -> Result<String, EngineError> {
        let (last, before) = path
            .split_last()
            .ok_or_else(|| unsupported("empty path".into()))?;
        let table = self.table(&last.entity_type)?;
        let column = self.column(table, last)?;
        if before.is_empty() {
            if last.entity_type != entity_type {
                return Err(unsupported(format!(
                    "path starts on `{}`, not `{entity_type}`",
                    last.entity_type
                )));
            }
            return test(self, &format!("{alias}.{column}"));
        }
        let here = self.alias();
        let inner = test(self, &format!("{here}.{column}"))?;
        let sub = format!(
            "(SELECT {here}.{id} FROM {t} {here} WHERE {inner})",
            id = check_ident(&table.id)?,
            t = check_ident(&table.table)?,
        );
        self.through(before, alias, entity_type, &format!("IN {sub}"))
    }

    /// `tail` (an `IN (…)` of ids) applied to the entity the path `before` leads to.
    fn through(
        &mut self,
        before: &[PathStep],
        alias: &str,
        entity_type: &str,
        tail: &str,
    ) -> Result<String, EngineError> {
        let tail = tail.to_string();
        self.at_path(before, alias, entity_type, &mut |_, column| {
            Ok(format!("{column} {tail}"))
        })
    }

    fn column(&self, table: &TableMapping, step: &PathStep) -> Result<String, EngineError> {
        let name = step.attribute.join(".");
        let column = table
            .columns
            .get(&name)
            .ok_or_else(|| unsupported(format!("no column for `{}.{name}`", step.entity_type)))?;
        Ok(check_ident(column)?.to_string())
    }
}

/// An entity reference compares by its id (the mapping's id columns hold ids).
fn plain_value(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.contains_key("type") && map.contains_key("id") => {
            map.get("id").cloned().unwrap_or(Value::Null)
        }
        other => other.clone(),
    }
}
