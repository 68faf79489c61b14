// What the admin console takes from CodeMirror 6, bundled once into one ES module so the page
// needs no bundler at run time (scripts/editor-bundle.sh).
export { EditorView, basicSetup } from "codemirror";
export { EditorState } from "@codemirror/state";
export { linter, lintGutter, forceLinting, diagnosticCount } from "@codemirror/lint";
export { StreamLanguage, HighlightStyle, syntaxHighlighting } from "@codemirror/language";
export { tags } from "@lezer/highlight";
