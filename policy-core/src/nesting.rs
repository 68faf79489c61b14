//! Bounds on how deeply untrusted Cedar text nests, checked before Cedar sees it.
//!
//! Cedar's parser turns text into a tree and then walks it recursively (CST to AST conversion,
//! validation, evaluation, formatting, and the `Drop` of the tree itself), so one policy with a
//! few hundred nested parentheses overflows a 2 MiB thread stack and aborts the whole process.
//! Long operator chains (`a || b || ...`, `1 + 1 + ...`, `.a.a.a...`) parse into flat lists but
//! become left-nested trees afterwards, just as deep. A lexical scan here refuses such text
//! with a located `too_deep` diagnostic; everything below the limits reaches Cedar unchanged, so
//! plain Cedar folders behave exactly as in Cedar.
//!
//! Two numbers are bounded, per statement:
//! - **nesting**: open `(`, `[`, `{` (and `<` in schemas: `Set<Set<...>>`) plus open `if`s;
//! - **expression depth**: an upper bound of the depth of the tree Cedar builds: every bracket
//!   and every operator (binary, unary, `.` access, call, `if`) on the path from the statement
//!   to the deepest leaf counts one, operator precedence deciding what is on a path (in
//!   `a.b == 1 || c.d == 2`, `.b` and `.d` are siblings: depth 3, not 5).
//!
//! The limits are far above anything written by hand or found in Cedar's public test corpus
//! (see `docs/fuzzing.md` for the measured maxima) and far below what overflows the stacks we
//! run Cedar on (the server's and CLI's threads, and the wasmtime guest), measured in debug
//! builds.
//!
//! JSON input needs no scan of ours: serde_json and serde_norway both refuse nesting deeper than
//! 128, and everything that reaches Cedar as JSON passes through one of them.

use crate::error::{Diagnostic, ErrorCode};
use crate::source::SourceText;

/// Most brackets and `if`s open at once in one statement.
pub const MAX_NESTING: usize = 64;

/// Most operators plus brackets along one path of an expression's tree (see the module doc).
/// Chains are what this bounds (brackets hit [`MAX_NESTING`] first): in the wasmtime guest's
/// 1 MiB stack, validating a chain of `+` overflows at about 360 operators.
pub const MAX_EXPRESSION_DEPTH: usize = 128;

/// The thread stack to run Cedar on untrusted text with (the server's runtime threads, the
/// CLI's command thread). The worst input the limits admit (parentheses at [`MAX_NESTING`])
/// needs about 1.2 MiB in a dev build, a chain at [`MAX_EXPRESSION_DEPTH`] far less; the tests
/// run both on a quarter of this. Only the pages a thread touches are ever mapped, so a large
/// reservation costs nothing until used.
pub const THREAD_STACK: usize = 32 << 20;

/// Which of Cedar's two text grammars a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Policies and templates (`.cedar`).
    Policy,
    /// Cedar-syntax schemas (`.cedarschema`): `<` and `>` bracket `Set<...>`, no operators.
    Schema,
}

/// The deepest point of a text, for reports (the corpus check) and limit errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub nesting: usize,
    pub expression: usize,
}

/// Measures a whole text without limits (for reports: how close real policies come).
pub fn measure(text: &str, syntax: Syntax) -> Depth {
    let mut scan = Scan::new(syntax, usize::MAX, usize::MAX);
    // With limits at usize::MAX the scan cannot fail.
    let _ = scan.run(text);
    scan.deepest
}

/// Refuses `text` (the file `path`) if it nests deeper than [`MAX_NESTING`] or
/// [`MAX_EXPRESSION_DEPTH`]; the `too_deep` diagnostic points at the token that went over. For
/// callers that hand Cedar text to Cedar themselves (the CLI's formatter); bundles check their
/// files on load.
pub fn check(path: &str, text: &str, syntax: Syntax) -> Result<(), Diagnostic> {
    check_source(&SourceText::new(path, text), syntax)
}

pub(crate) fn check_source(src: &SourceText<'_>, syntax: Syntax) -> Result<(), Diagnostic> {
    let (max_nesting, max_expression) = (MAX_NESTING, MAX_EXPRESSION_DEPTH);
    let mut scan = Scan::new(syntax, max_nesting, max_expression);
    scan.run(src.text).map_err(|over| {
        let (what, limit) = match over.kind {
            Over::Nesting => (
                format!("brackets and `if`s nested deeper than {max_nesting} levels"),
                max_nesting,
            ),
            Over::Expression => (
                format!("expression nested deeper than {max_expression} operators and brackets"),
                max_expression,
            ),
        };
        Diagnostic::error(
            ErrorCode::TooDeep,
            format!("{what}; expected at most {limit} here"),
        )
        .at(Some(src.locate(over.offset)))
        .with_length(u32::try_from(over.len).ok())
        .with_help(Some(
            "split the condition into several policies, or name parts of it with attributes".into(),
        ))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Over {
    Nesting,
    Expression,
}

#[derive(Debug)]
struct Exceeded {
    kind: Over,
    offset: usize,
    len: usize,
}

/// Operator precedence levels of Cedar's expression grammar, loosest first: an operator's
/// operands are the tighter expressions around it, so a chain adds one level per operator to
/// the deepest of its operands, not to its siblings.
const IF: usize = 0;
const OR: usize = 1;
const AND: usize = 2;
const RELATION: usize = 3;
const ADD: usize = 4;
const MUL: usize = 5;
const UNARY: usize = 6;
const MEMBER: usize = 7;
const LEVELS: usize = 8;

/// One open bracket, or the statement level. `,` `:` `;` start a sibling segment (list
/// elements, record fields, statements).
#[derive(Debug, Default, Clone, Copy)]
struct Frame {
    /// A bracket (counts one level); `false` for the statement level.
    bracket: bool,
    /// Expression depth on the path from the statement to this frame, fixed while it is open.
    outer: usize,
    /// Depth, relative to this frame, of the deepest segment already finished.
    finished: usize,
    /// Per precedence level, operators of the chain being read at that level...
    count: [usize; LEVELS],
    /// ...and the depth of the deepest operand already finished in that chain.
    operands: [usize; LEVELS],
    /// `if`s opened in the current segment (each nests its branches).
    ifs: usize,
    /// The last token ended an operand: a `-` now subtracts, a `(` or `[` is a call or index.
    after_operand: bool,
    /// The last token was the name after a `.`: a `(` now is that method's call, already
    /// counted with the `.`.
    after_member_name: bool,
}

impl Frame {
    fn own(&self) -> usize {
        usize::from(self.bracket)
    }

    /// Depth of the current segment, as if it ended here.
    fn segment(&self) -> usize {
        (0..LEVELS).rev().fold(0, |tighter, level| {
            self.count[level] + self.operands[level].max(tighter)
        })
    }

    /// Depth of this frame relative to its parent.
    fn relative(&self) -> usize {
        self.own() + self.finished.max(self.segment())
    }

    fn absolute(&self) -> usize {
        self.outer + self.relative()
    }

    /// Depth on the path from the frame to the operand being read: every unfinished operator.
    fn path(&self) -> usize {
        self.outer + self.own() + self.count.iter().sum::<usize>()
    }

    /// Ends the chains tighter than `level`: their depth becomes one operand at `level`.
    fn fold_above(&mut self, level: usize) {
        let mut tighter = 0;
        for l in (level + 1..LEVELS).rev() {
            tighter = self.count[l] + self.operands[l].max(tighter);
            self.count[l] = 0;
            self.operands[l] = 0;
        }
        self.operands[level] = self.operands[level].max(tighter);
    }

    fn operator(&mut self, level: usize) {
        self.fold_above(level);
        self.count[level] += 1;
        self.after_operand = false;
        self.after_member_name = false;
    }

    fn next_segment(&mut self) {
        self.finished = self.finished.max(self.segment());
        let bracket = self.bracket;
        let outer = self.outer;
        let finished = self.finished;
        *self = Frame {
            bracket,
            outer,
            finished,
            ..Frame::default()
        };
    }
}

struct Scan {
    syntax: Syntax,
    max_nesting: usize,
    max_expression: usize,
    statement: Frame,
    /// The open brackets, innermost last.
    open: Vec<Frame>,
    /// Open `if`s in every frame below the innermost (whose own are in its `ifs`).
    ifs_below: usize,
    deepest: Depth,
}

impl Scan {
    fn new(syntax: Syntax, max_nesting: usize, max_expression: usize) -> Self {
        Self {
            syntax,
            max_nesting,
            max_expression,
            statement: Frame::default(),
            open: Vec::new(),
            ifs_below: 0,
            deepest: Depth::default(),
        }
    }

    fn top(&mut self) -> &mut Frame {
        self.open.last_mut().unwrap_or(&mut self.statement)
    }

    fn top_ref(&self) -> &Frame {
        self.open.last().unwrap_or(&self.statement)
    }

    /// Records the current depths and fails if one is over its limit.
    fn check(&mut self, offset: usize, len: usize) -> Result<(), Exceeded> {
        let top = self.top_ref();
        let nesting = self.open.len() + self.ifs_below + top.ifs;
        let expression = top.absolute();
        self.deepest.nesting = self.deepest.nesting.max(nesting);
        self.deepest.expression = self.deepest.expression.max(expression);
        let kind = if nesting > self.max_nesting {
            Over::Nesting
        } else if expression > self.max_expression {
            Over::Expression
        } else {
            return Ok(());
        };
        Err(Exceeded { kind, offset, len })
    }

    fn open(&mut self, bracket: u8, offset: usize) -> Result<(), Exceeded> {
        let top = self.top();
        // A call or index applies to the operand before it, like `.`.
        if top.after_operand && !top.after_member_name && bracket != b'{' {
            top.operator(MEMBER);
        }
        let top = *self.top_ref();
        self.ifs_below += top.ifs;
        self.open.push(Frame {
            bracket: true,
            outer: top.path(),
            ..Frame::default()
        });
        self.check(offset, 1)
    }

    fn close(&mut self, offset: usize) -> Result<(), Exceeded> {
        // An unmatched closer is Cedar's syntax error to report.
        let Some(closed) = self.open.pop() else {
            return Ok(());
        };
        let top = self.top();
        // What the brackets held is one operand of the tightest level.
        top.operands[MEMBER] = top.operands[MEMBER].max(closed.relative());
        top.after_operand = true;
        let ifs = top.ifs;
        self.ifs_below = self.ifs_below.saturating_sub(ifs);
        self.check(offset, 1)
    }

    fn operator(&mut self, level: usize, offset: usize, len: usize) -> Result<(), Exceeded> {
        self.top().operator(level);
        self.check(offset, len)
    }

    fn keyword(&mut self, word: &str, offset: usize) -> Result<(), Exceeded> {
        let top = self.top();
        match word {
            "if" => {
                top.operator(IF);
                top.ifs += 1;
            }
            // The branches of an `if` are siblings under it.
            "then" | "else" => {
                top.fold_above(IF);
                top.after_operand = false;
            }
            "in" | "has" | "like" | "is" => top.operator(RELATION),
            // The parts of a statement (scope, conditions) are siblings.
            "permit" | "forbid" | "when" | "unless" => {
                top.next_segment();
                return Ok(());
            }
            _ => {
                top.after_operand = true;
                return Ok(());
            }
        }
        self.check(offset, word.len())
    }

    fn run(&mut self, text: &str) -> Result<(), Exceeded> {
        let bytes = text.as_bytes();
        let mut i = 0;
        // The previous token was `.`: the identifier after it is an attribute, not a keyword.
        let mut after_dot = false;
        while let Some(&b) = bytes.get(i) {
            let start = i;
            let was_after_dot = std::mem::replace(&mut after_dot, false);
            match b {
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    // A comment runs to the end of the line.
                    while bytes.get(i).is_some_and(|&c| c != b'\n') {
                        i += 1;
                    }
                    after_dot = was_after_dot;
                    continue;
                }
                b'"' => {
                    // A string: `\` escapes the next character (`\"`, `\\`, `\u{..}` ...).
                    i += 1;
                    while let Some(&c) = bytes.get(i) {
                        i += 1;
                        match c {
                            b'\\' => i += 1,
                            b'"' => break,
                            _ => {}
                        }
                    }
                    self.top().after_operand = true;
                    continue;
                }
                b'(' | b'[' | b'{' => self.open(b, start)?,
                b')' | b']' | b'}' => self.close(start)?,
                b'<' if self.syntax == Syntax::Schema => self.open(b'{', start)?,
                b'>' if self.syntax == Syntax::Schema => self.close(start)?,
                // Annotations (`@id("...")`) are siblings of each other and of the policy.
                b',' | b';' | b':' | b'@' => {
                    if b == b':' && bytes.get(i + 1) == Some(&b':') {
                        // `::` joins a path; not a separator.
                        i += 2;
                        continue;
                    }
                    self.top().next_segment();
                }
                _ if b.is_ascii_whitespace() => {
                    after_dot = was_after_dot;
                }
                _ if b.is_ascii_alphanumeric() || b == b'_' => {
                    while bytes
                        .get(i)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    {
                        i += 1;
                    }
                    let word = text.get(start..i).unwrap_or("");
                    if self.syntax == Syntax::Policy && !was_after_dot {
                        self.keyword(word, start)?;
                        self.top().after_member_name = false;
                    } else {
                        let top = self.top();
                        top.after_operand = true;
                        top.after_member_name = was_after_dot;
                    }
                    continue;
                }
                _ if self.syntax == Syntax::Policy => {
                    let pair = bytes.get(i..i + 2);
                    let (level, len) = match (b, pair) {
                        (_, Some(b"||")) => (Some(OR), 2),
                        (_, Some(b"&&")) => (Some(AND), 2),
                        (_, Some(b"==" | b"!=" | b"<=" | b">=")) => (Some(RELATION), 2),
                        (b'<' | b'>' | b'=', _) => (Some(RELATION), 1),
                        (b'+', _) => (Some(ADD), 1),
                        (b'-', _) if self.top_ref().after_operand => (Some(ADD), 1),
                        (b'*' | b'/' | b'%', _) => (Some(MUL), 1),
                        (b'!' | b'-', _) => (Some(UNARY), 1),
                        (b'.', _) => (Some(MEMBER), 1),
                        _ => (None, 1),
                    };
                    if let Some(level) = level {
                        self.operator(level, start, len)?;
                    }
                    after_dot = b == b'.';
                    i += len;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn depth(text: &str) -> Depth {
        measure(text, Syntax::Policy)
    }

    fn refused(text: &str, syntax: Syntax) -> Diagnostic {
        check("p.cedar", text, syntax).expect_err("should be refused")
    }

    #[test]
    fn brackets_and_ifs_nest() {
        assert_eq!(depth("permit(principal, action, resource);").nesting, 1);
        assert_eq!(
            depth("permit(principal, action, resource) when { ((1)) };").nesting,
            3
        );
        let d = depth(
            "permit(principal, action, resource) when { if a then if b then 1 else 2 else 3 };",
        );
        assert_eq!(d.nesting, 3);
        // Siblings do not add up.
        assert_eq!(depth("when { [1, (2), [3]] }").nesting, 3);
    }

    #[test]
    fn strings_and_comments_are_skipped() {
        let text =
            "// (((((( if\npermit(principal, action, resource) when { \"((\\\"((\" == \"\\\\\" };";
        let d = depth(text);
        assert_eq!(d.nesting, 1);
        assert_eq!(d.expression, 2);
        // An unterminated string ends the scan quietly (Cedar reports it).
        assert_eq!(depth("when { \"((((").nesting, 1);
    }

    #[test]
    fn operator_chains_count_every_operator() {
        let d = depth("when { a || b || c }");
        assert_eq!(d.expression, 3);
        let d = depth("when { x.a.b.contains(y) }");
        // { + three accesses + the call's bracket
        assert_eq!(d.expression, 5);
        // A left-associative chain after a deep operand: the operand is as deep as the chain.
        let d = depth("when { ((1)) + 1 + 1 }");
        assert_eq!(d.expression, 5);
        // Attribute names after `.` are not keywords; `::` is no separator.
        assert_eq!(depth("when { a.if && A::\"b\" }").expression, 3);
        // Precedence: the operands of `||` are siblings, not one chain.
        let alternatives = vec!["principal.role == \"r\""; 40].join(" || ");
        assert_eq!(
            depth(&format!("when {{ {alternatives} }}")).expression,
            1 + 39 + 2
        );
        // `-` after an operand subtracts (one chain), before one negates (nests in the operand).
        assert_eq!(depth("when { 1 - 1 - -1 }").expression, 1 + 2 + 1);
    }

    #[test]
    fn schemas_count_set_brackets_and_records() {
        let d = measure("entity A { a: Set<Set<{ b: Long }>> };", Syntax::Schema);
        assert_eq!(d.nesting, 4);
    }

    #[test]
    fn the_error_points_at_the_token_that_went_over() {
        let text = format!(
            "permit(principal, action, resource) when {{\n  {}1{} }};",
            "(".repeat(100),
            ")".repeat(100)
        );
        let d = refused(&text, Syntax::Policy);
        assert_eq!(d.code, ErrorCode::TooDeep);
        let loc = d.location.unwrap();
        // The statement's `when {` is level 1, so the 64th `(` is the 65th level.
        assert_eq!((loc.line, loc.column), (2, 3 + 63));
        assert!(d.message.contains("64"), "{}", d.message);

        let chain = format!(
            "permit(principal, action, resource) when {{ 1{} }};",
            " + 1".repeat(600)
        );
        let d = refused(&chain, Syntax::Policy);
        assert!(d.message.contains("expression"), "{}", d.message);
    }
}
