//! A generated accounting firm of realistic size for the `policies/` schema, and a mix of
//! requests over it. Deterministic (fixed-seed generator) so runs compare.

use policy_core::wire::{DecisionRequest, EntityRef};
use serde_json::{json, Value};

/// The company roles of a generated client, one team each (`Client.teams`).
pub const TEAM_ROLES: [&str; 9] = [
    "accountant",
    "collaborator",
    "client",
    "auditor",
    "director",
    "billing",
    "customer_invoicing",
    "supplier_invoices",
    "internal_accountant",
];
const DOC_KINDS: [&str; 5] = [
    "customer_invoice",
    "supplier_invoice",
    "bank_statement",
    "receipt",
    "contract",
];
const FIELDS: [&str; 4] = [
    "invoice.amount",
    "invoice.iban",
    "invoice.customer",
    "invoice.notes",
];

/// Sizes of the generated firm.
#[derive(Debug, Clone, Copy)]
pub struct FirmSize {
    pub users: usize,
    pub clients: usize,
    pub documents: usize,
    /// Clients each accountant is assigned to.
    pub clients_per_accountant: usize,
}

impl FirmSize {
    /// A firm of this many users, clients and documents (other proportions as by default).
    pub fn of(users: usize, clients: usize, documents: usize) -> Self {
        Self {
            users,
            clients,
            documents,
            ..Self::default()
        }
    }
}

impl Default for FirmSize {
    fn default() -> Self {
        Self {
            users: 500,
            clients: 5_000,
            documents: 200_000,
            clients_per_accountant: 40,
        }
    }
}

/// A small linear congruential generator: enough spread for a workload, no dependency.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn uid(ty: &str, id: &str) -> Value {
    json!({ "type": ty, "id": id })
}

fn ent(ty: &str, id: &str) -> Value {
    json!({ "__entity": { "type": ty, "id": id } })
}

/// The entity records of a firm of `size` (to add to the bundle's static entities).
pub fn firm_entities(size: FirmSize) -> Vec<Value> {
    firm_in(&GenFirm::bench(), size)
}

/// `firms` firms of `size` each, ids prefixed by their firm (`f0-c12`, `f1-u3`...): a network
/// of tenants sharing the bundle's plans, licences and base profiles.
pub fn network_entities(firms: usize, size: FirmSize) -> Vec<Value> {
    (0..firms)
        .flat_map(|f| firm_in(&GenFirm::numbered(f), size))
        .collect()
}

/// A generated firm's id and the prefix of every id in it.
pub struct GenFirm {
    pub id: String,
    pub prefix: String,
}

impl GenFirm {
    fn bench() -> Self {
        Self {
            id: "bench".into(),
            prefix: String::new(),
        }
    }

    pub fn numbered(n: usize) -> Self {
        Self {
            id: format!("f{n}"),
            prefix: format!("f{n}-"),
        }
    }
}

fn firm_in(firm: &GenFirm, size: FirmSize) -> Vec<Value> {
    let mut rng = Lcg::new(42);
    let mut out = Vec::with_capacity(size.documents + size.clients * 10 + size.users + 16);
    let p = &firm.prefix;
    out.push(json!({"uid": uid("Firm", &firm.id), "attrs": {"name": format!("{} & Co", firm.id), "plan": ent("Plan", "firm_standard")}, "parents": []}));
    for d in 0..5 {
        out.push(json!({"uid": uid("Department", &format!("{p}d{d}")), "attrs": {"name": format!("Department {d}")}, "parents": [uid("Firm", &firm.id)]}));
    }
    for c in 0..size.clients {
        let client = format!("{p}c{c}");
        let mut teams = serde_json::Map::new();
        for role in TEAM_ROLES {
            let team = format!("{client}/{role}");
            teams.insert(role.to_string(), ent("Team", &team));
            out.push(json!({"uid": uid("Team", &team), "attrs": {"client": ent("Client", &client), "role": role}, "parents": []}));
        }
        let plan = if c % 3 == 0 {
            "client_essential"
        } else {
            "client_business"
        };
        out.push(json!({
            "uid": uid("Client", &client),
            "attrs": {"name": format!("Client {c}"), "key": client, "firm": ent("Firm", &firm.id), "plan": ent("Plan", plan),
                      "teams": teams, "detached": []},
            "parents": [uid("Firm", &firm.id), uid("Department", &format!("{p}d{}", c % 5))]
        }));
    }
    for d in 0..size.documents {
        let client = format!("{p}c{}", rng.below(size.clients));
        out.push(json!({
            "uid": uid("Document", &format!("{p}doc{d}")),
            "attrs": {"client": ent("Client", &client), "kind": DOC_KINDS[d % DOC_KINDS.len()], "archived": d % 10 == 0},
            "parents": [uid("Client", &client)]
        }));
    }
    for u in 0..size.users {
        out.push(user(firm, u, size, &mut rng));
    }
    out
}

/// Whether generated user `u` is a client's staff (external: no seat of the firm's plan).
fn is_external(u: usize) -> bool {
    u % 5 == 4
}

/// The seats of its plan a generated firm of `size` takes: its users who are not external
/// (none is deactivated), as the engine counts them from the data.
pub fn seats_taken(size: FirmSize) -> usize {
    (0..size.users).filter(|u| !is_external(*u)).count()
}

fn user(firm: &GenFirm, u: usize, size: FirmSize, rng: &mut Lcg) -> Value {
    let p = &firm.prefix;
    let mut parents = Vec::new();
    let external = is_external(u);
    if external {
        // A client's staff: one company, one client-side role.
        let c = rng.below(size.clients);
        let role = TEAM_ROLES[2 + rng.below(TEAM_ROLES.len() - 2)];
        parents.push(uid("Team", &format!("{p}c{c}/{role}")));
    } else {
        match u % 5 {
            0 => parents.push(uid("Role", "administrator")),
            1 => parents.push(uid("Role", "client_manager")),
            _ => parents.push(uid("Role", "accountant")),
        }
        for _ in 0..size.clients_per_accountant {
            parents.push(uid(
                "Team",
                &format!("{p}c{}/accountant", rng.below(size.clients)),
            ));
        }
        if u % 7 == 0 {
            parents.push(uid("SiteProfile", "collaborator"));
        }
    }
    let restricted = u % 11 == 0;
    json!({
        "uid": uid("User", &format!("{p}u{u}")),
        "attrs": {
            "name": format!("User {u}"), "email": format!("{p}u{u}@{}.example", firm.id), "firm": ent("Firm", &firm.id),
            "external": external, "blocked": u % 50 == 49, "can_delete": u % 2 == 0,
            "profile": ent("AccessProfile", if u % 3 == 0 { "junior_accountant" } else { "full_accounting_standard" }),
            "department_restricted": restricted,
            "departments": if restricted { vec![ent("Department", &format!("{p}d0"))] } else { vec![] },
        },
        "parents": parents
    })
}

/// `count` requests mixing documents, fields, clients and firm administration.
pub fn requests(size: FirmSize, count: usize) -> Vec<DecisionRequest> {
    let mut rng = Lcg::new(7);
    (0..count)
        .map(|i| {
            let principal = EntityRef::new("User", format!("u{}", rng.below(size.users)));
            let doc = || {
                EntityRef::new(
                    "Document",
                    format!("doc{}", i * 7919 % size.documents.max(1)),
                )
            };
            let (action, resource, context) = match i % 6 {
                0 => ("view_document", doc(), None),
                1 => ("edit_document", doc(), None),
                2 => (
                    "read_field",
                    doc(),
                    Some(json!({"field": FIELDS[i % FIELDS.len()]})),
                ),
                3 => (
                    "view_client",
                    EntityRef::new("Client", format!("c{}", rng.below(size.clients))),
                    None,
                ),
                4 => ("delete_document", doc(), None),
                _ => (
                    "invite_user",
                    EntityRef::new("Firm", "bench"),
                    // What an honest caller sends: the engine counts the seats itself and
                    // replaces this, so plain Cedar must be given the same number to agree.
                    Some(json!({"user_count": seats_taken(size)})),
                ),
            };
            DecisionRequest {
                principal,
                action: EntityRef::new("Action", action),
                resource,
                context,
                entities: Vec::new(),
            }
        })
        .collect()
}
