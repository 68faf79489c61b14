// Syntax highlighting for Cedar policies and schemas: a small CodeMirror stream tokenizer
// (keywords, annotations, strings, comments, entity paths, operators).
import { StreamLanguage, HighlightStyle, syntaxHighlighting } from "/pkg/editor/codemirror.js";
import { tags } from "/pkg/editor/codemirror.js";

const KEYWORDS = new Set([
  "permit", "forbid", "when", "unless", "principal", "action", "resource", "context", "in", "has",
  "like", "is", "if", "then", "else", "true", "false", "entity", "appliesTo", "namespace", "type",
  "tags", "Set", "Long", "String", "Bool",
]);

const cedar = StreamLanguage.define({
  name: "cedar",
  token(stream) {
    if (stream.eatSpace()) return null;
    if (stream.match("//")) { stream.skipToEnd(); return "comment"; }
    if (stream.match(/^@[A-Za-z_]\w*/)) return "meta";
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return "string";
    if (stream.match(/^\d+/)) return "number";
    if (stream.match(/^[A-Za-z_]\w*(::[A-Za-z_]\w*)*(?=::")/)) return "typeName";
    if (stream.match(/^[A-Za-z_]\w*/)) {
      return KEYWORDS.has(stream.current()) ? "keyword" : "variableName";
    }
    if (stream.match(/^(==|!=|<=|>=|&&|\|\||::|[<>!+\-*])/)) return "operator";
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: "//" } },
});

const style = HighlightStyle.define([
  { tag: tags.keyword, color: "#7a3e9d", fontWeight: "600" },
  { tag: tags.comment, color: "#7b8a8b", fontStyle: "italic" },
  { tag: tags.string, color: "#0b7a0b" },
  { tag: tags.meta, color: "#b35c00" },
  { tag: tags.typeName, color: "#1f5fbf" },
  { tag: tags.number, color: "#a0522d" },
  { tag: tags.operator, color: "#555" },
]);

export const cedarLanguage = [cedar, syntaxHighlighting(style)];
