//! A bundle: the files that make one policy version (policies, schema, static entities,
//! manifest, tests), loaded and validated as a whole. Callers hand in bytes; nothing here reads
//! files, so the same loader runs natively, in a browser and in a wasmtime guest.

mod action_index;
mod compiled;
mod entities;
mod files;
mod links;
mod literals;
mod manifest;
mod policies;
mod schema;

use std::collections::{BTreeMap, HashMap};

use cedar_policy::{Entities, PolicySet, Schema};

use crate::error::{BundleError, Diagnostic, ErrorCode, Location, Severity};
use crate::suite::{parse_suite, TestSuite};
use crate::wire::{BundleInfo, EntityRef};

pub use files::{classify, FileKind};
pub use links::{with_link, without_link, LinkArg, LinkEditError, TemplateLink, LINKS_FILE};
pub use manifest::{FieldActions, Manifest};
pub use policies::PolicyInfo;

pub(crate) use compiled::{authorize, Outcome};

pub(crate) use entities::read_records;

/// Whether policies that fail strict validation against the schema stop a bundle from loading.
///
/// Sesame deploys only validated policies (`Enforce`, what [`Bundle::load`] does). Cedar itself
/// decides with any policy that parses; `Report` loads such a draft anyway, its validation
/// errors kept as warnings, so an author (or Cedar's own corpus) can see what Cedar would decide
/// with it. Every other check still refuses the bundle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PolicyValidation {
    #[default]
    Enforce,
    Report,
}

/// A loaded, validated bundle. Immutable: a new version is a new `Bundle`.
#[derive(Debug, Clone)]
pub struct Bundle {
    digest: String,
    manifest: Manifest,
    /// `None`: a schema-less folder, which Cedar allows: no validation, decisions as Cedar's.
    schema: Option<Schema>,
    policies: PolicySet,
    /// The policies each action may trigger (see `action_index`); `None`: use `policies`.
    policies_by_action:
        Option<std::sync::Arc<HashMap<cedar_policy::EntityUid, action_index::ActionPolicies>>>,
    policy_index: BTreeMap<String, PolicyInfo>,
    template_index: BTreeMap<String, PolicyInfo>,
    /// Entities the policies' conditions name (see `literals`): roots of every slice.
    condition_literals: std::sync::Arc<[cedar_policy_core::ast::EntityUID]>,
    /// The actions whose context declares the firm model's request time (`request_time.rs`):
    /// looked up by id on every decision, so that stamping the time costs no parse.
    clocked_actions: std::collections::HashSet<EntityRef>,
    entities: Entities,
    entity_records: Vec<serde_json::Value>,
    entity_origins: HashMap<EntityRef, Location>,
    tests: Vec<(String, TestSuite)>,
    files: BTreeMap<String, String>,
    warnings: Vec<Diagnostic>,
}

impl Bundle {
    /// Loads a bundle from `(path, bytes)` pairs. Paths are relative to the bundle root, with `/`
    /// or `\`. Returns every problem at once if anything is wrong.
    pub fn load<I, P, B>(files: I) -> Result<Self, BundleError>
    where
        I: IntoIterator<Item = (P, B)>,
        P: AsRef<str>,
        B: AsRef<[u8]>,
    {
        Self::load_with(files, PolicyValidation::Enforce)
    }

    /// [`Bundle::load`], with policy validation errors refusing the bundle or only reported.
    pub fn load_with<I, P, B>(files: I, validation: PolicyValidation) -> Result<Self, BundleError>
    where
        I: IntoIterator<Item = (P, B)>,
        P: AsRef<str>,
        B: AsRef<[u8]>,
    {
        let mut diags = Vec::new();
        let mut texts: BTreeMap<String, String> = BTreeMap::new();
        for (raw_path, bytes) in files {
            let path = match files::normalize_path(raw_path.as_ref()) {
                Ok(p) => p,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            if files::classify(&path) == FileKind::Ignored {
                continue;
            }
            match files::normalize_text(bytes.as_ref()) {
                Ok(text) => {
                    if texts.insert(path.clone(), text).is_some() {
                        diags.push(Diagnostic::error(
                            ErrorCode::InvalidPath,
                            format!("bundle file `{path}` is given twice"),
                        ));
                    }
                }
                Err(e) => diags.push(
                    Diagnostic::error(
                        ErrorCode::InvalidPath,
                        format!("`{path}` is not UTF-8 text: {e}"),
                    )
                    .at(Some(Location {
                        file: path,
                        line: 1,
                        column: 1,
                    })),
                ),
            }
        }
        Self::from_texts(texts, diags, validation)
    }

    fn from_texts(
        texts: BTreeMap<String, String>,
        mut diags: Vec<Diagnostic>,
        validation: PolicyValidation,
    ) -> Result<Self, BundleError> {
        let of_kind = |kind: FileKind| -> Vec<(&str, &str)> {
            texts
                .iter()
                .filter(|(p, _)| files::classify(p) == kind)
                .map(|(p, t)| (p.as_str(), t.as_str()))
                .collect()
        };

        let manifest = match of_kind(FileKind::Manifest).first() {
            Some((path, text)) => match serde_json::from_str::<Manifest>(text) {
                Ok(m) => m,
                Err(e) => {
                    let src = crate::source::SourceText::new(path, text);
                    diags.push(
                        Diagnostic::error(
                            ErrorCode::ManifestInvalid,
                            format!("invalid manifest: {e}"),
                        )
                        .at(Some(src.location_at(e.line(), e.column()))),
                    );
                    Manifest::default()
                }
            },
            None => Manifest::default(),
        };

        let mut schema_files = of_kind(FileKind::SchemaCedar);
        schema_files.extend(of_kind(FileKind::SchemaJson));
        // `Some(None)`: no schema file (Cedar's schema is optional); `None`: a schema that failed.
        let schema: Option<Option<Schema>> = match schema_files.as_slice() {
            [] => {
                diags.push(
                    Diagnostic::warning(
                        ErrorCode::SchemaMissing,
                        "the bundle has no schema (`*.cedarschema` or `*.cedarschema.json`): policies, entities and requests are not validated",
                    )
                    .with_help(Some(
                        "add the schema of your entities and actions to have them validated strictly".into(),
                    )),
                );
                Some(None)
            }
            [(path, text)] => {
                schema::parse_schema(path, files::classify(path), text, &mut diags).map(Some)
            }
            many => {
                let names: Vec<&str> = many.iter().map(|(p, _)| *p).collect();
                diags.push(Diagnostic::error(
                    ErrorCode::SchemaMissing,
                    format!("the bundle has more than one schema: {}", names.join(", ")),
                ));
                None
            }
        };

        let mut parsed = policies::parse_policy_files(
            &of_kind(FileKind::Policies),
            manifest.require_policy_ids,
            &mut diags,
        );
        links::add(&of_kind(FileKind::TemplateLinks), &mut parsed, &mut diags);

        let mut tests = Vec::new();
        for (path, text) in of_kind(FileKind::TestSuite) {
            match parse_suite(path, text) {
                Ok(suite) => tests.push((path.to_string(), suite)),
                Err(d) => diags.push(d),
            }
        }
        for (path, text) in of_kind(FileKind::TestFixture) {
            let _ = read_records(path, text, &mut diags);
        }
        for (path, suite) in &tests {
            for fixture in &suite.fixtures {
                if files::classify(fixture) != FileKind::TestFixture || !texts.contains_key(fixture)
                {
                    diags.push(
                        Diagnostic::error(
                            ErrorCode::TestInvalid,
                            format!(
                                "fixture `{fixture}` is not a JSON file under tests/ in this bundle"
                            ),
                        )
                        .at(Some(Location {
                            file: path.clone(),
                            line: 1,
                            column: 1,
                        })),
                    );
                }
            }
        }

        let Some(schema) = schema else {
            return Err(BundleError { diagnostics: diags });
        };
        if let Some(schema) = &schema {
            let first = diags.len();
            policies::validate(&parsed, schema, &texts, &mut diags);
            if validation == PolicyValidation::Report {
                for diag in &mut diags[first..] {
                    diag.severity = Severity::Warning;
                }
            }
        }
        let loaded = entities::load(&of_kind(FileKind::Entities), schema.as_ref(), &mut diags);
        // The firm rules apply only where the manifest declares the model: a plain Cedar
        // folder whose types happen to be called `AccessProfile` or `Plan` is plain Cedar.
        if let Some(model) = &manifest.firm_model {
            match &schema {
                Some(schema) => diags.extend(model.check_against(schema)),
                None => diags.push(Diagnostic::error(
                    ErrorCode::ManifestInvalid,
                    "the manifest declares a firm_model, which needs a schema naming its types",
                )),
            }
            if let Some(loaded) = &loaded {
                diags.extend(crate::profile::check_profiles(
                    model,
                    &loaded.entities,
                    &loaded.origins,
                ));
                diags.extend(crate::client_roles::check_client_roles(
                    model,
                    &loaded.entities,
                    &loaded.origins,
                ));
            }
        }
        if let Some(field_actions) = &manifest.field_actions {
            for uid in [
                &field_actions.print,
                &field_actions.read,
                &field_actions.full,
            ] {
                let known = uid
                    .parse::<cedar_policy::EntityUid>()
                    .ok()
                    .map(|u| match &schema {
                        Some(schema) => schema.actions().any(|a| *a == u),
                        // Without a schema any action uid is an action.
                        None => true,
                    })
                    .unwrap_or(false);
                if !known {
                    diags.push(Diagnostic::error(
                        ErrorCode::ManifestInvalid,
                        format!("manifest field action `{uid}` is not an action of the schema"),
                    ));
                }
            }
        }

        let has_errors = diags.iter().any(Diagnostic::is_error);
        match loaded {
            Some(loaded) if !has_errors => {
                let digest = files::digest(texts.iter().map(|(p, t)| (p.as_str(), t.as_str())));
                let condition_literals = literals::condition_literals(&parsed.set).into();
                let policies_by_action = schema
                    .as_ref()
                    .and_then(|schema| {
                        action_index::by_action(schema, &parsed.set, &loaded.entities)
                    })
                    .map(std::sync::Arc::new);
                let clocked_actions = match (&schema, &manifest.firm_model) {
                    (Some(schema), Some(model)) => {
                        crate::request_time::clocked_actions(schema, &model.request_time)
                    }
                    _ => Default::default(),
                };
                Ok(Self {
                    digest,
                    manifest,
                    schema,
                    policies_by_action,
                    policies: parsed.set,
                    policy_index: parsed.index,
                    template_index: parsed.templates,
                    condition_literals,
                    clocked_actions,
                    entities: loaded.entities,
                    entity_records: loaded.records,
                    entity_origins: loaded.origins,
                    tests,
                    files: texts,
                    warnings: diags,
                })
            }
            _ => Err(BundleError { diagnostics: diags }),
        }
    }

    /// `sha256:<hex>` over the canonical file listing; identifies the version everywhere.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The schema; `None` for a schema-less folder (nothing is validated, as in Cedar).
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The policies that may apply to `request`'s action (see `action_index`); `None`: every
    /// policy of the bundle may (an action the index does not know, a bundle with templates or
    /// without a schema).
    pub(crate) fn policies_for(
        &self,
        request: &cedar_policy::Request,
    ) -> Option<&action_index::ActionPolicies> {
        request
            .action()
            .zip(self.policies_by_action.as_ref())
            .and_then(|(a, index)| index.get(a))
    }

    /// The policies that may apply to `action` (as Cedar's set), or every policy when the
    /// index does not know it: what partial evaluation for a query need look at.
    pub(crate) fn policies_for_action(&self, action: &cedar_policy::EntityUid) -> &PolicySet {
        self.policies_by_action
            .as_ref()
            .and_then(|index| index.get(action))
            .map_or(&self.policies, |found| &found.set)
    }

    /// Entities named in the policies' conditions: a decision's slice must hold them (and
    /// what they reference) whatever the request names.
    pub(crate) fn condition_literals(&self) -> &[cedar_policy_core::ast::EntityUID] {
        &self.condition_literals
    }

    /// Whether `action`'s context declares the request time (see `request_time.rs`).
    pub(crate) fn is_clocked(&self, action: &EntityRef) -> bool {
        !self.clocked_actions.is_empty() && self.clocked_actions.contains(action)
    }

    /// Policies by `@id` (template-linked policies by their link id), with their file and
    /// position: every policy that can determine a decision.
    pub fn policy_index(&self) -> &BTreeMap<String, PolicyInfo> {
        &self.policy_index
    }

    /// Templates (policies with `?principal` / `?resource` slots) by `@id`.
    pub fn template_index(&self) -> &BTreeMap<String, PolicyInfo> {
        &self.template_index
    }

    /// The static entities (plus the schema's action entities).
    pub fn entities(&self) -> &Entities {
        &self.entities
    }

    pub fn entity_records(&self) -> &[serde_json::Value] {
        &self.entity_records
    }

    /// Where a static entity was declared (file, line, column), for editors and reports.
    pub fn entity_origin(&self, uid: &EntityRef) -> Option<&Location> {
        self.entity_origins.get(uid)
    }

    pub fn tests(&self) -> &[(String, TestSuite)] {
        &self.tests
    }

    /// The bundle's files as loaded (normalized text), by path.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// Warnings found while loading (the bundle loaded anyway).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    pub fn info(&self) -> BundleInfo {
        BundleInfo {
            digest: self.digest.clone(),
            name: self.manifest.name.clone(),
            policy_ids: self.policy_index.keys().cloned().collect(),
            entity_count: self.entity_records.len(),
            files: self.files.keys().cloned().collect(),
            warnings: self.warnings.clone(),
        }
    }
}
