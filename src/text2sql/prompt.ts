// The one prompt builder: training-data preparation, the server and eval all ask the model through it,
// so a model is asked at inference exactly as it was taught.
//
// The template is XiYan-SQL's nl2sql prompt (XiYanSQL-QwenCoder model card, Chinese version, the one the
// XiYanSQL-QwenCoder models were trained on): the dialect, the question (twice), the schema (M-Schema
// recommended; DDL accepted) and optional evidence. The prompt ends with the opening of a ```sql block, so
// the model's reply is the SQL followed by a closing ``` fence.

/** SQL dialects the prompt names; the XiYan models were trained on these three. */
export type SqlDialect = "SQLite" | "MySQL" | "PostgreSQL";

export const SQL_DIALECTS: readonly SqlDialect[] = ["SQLite", "MySQL", "PostgreSQL"];

export interface Nl2SqlPromptInput {
  /** The user's question in natural language. */
  question: string;
  /** The database schema: M-Schema text (recommended) or DDL. */
  dbSchema: string;
  /** SQL dialect the answer must be written in. Default SQLite. */
  dialect?: SqlDialect;
  /** Extra knowledge for the question (BIRD-style evidence); empty by default. */
  evidence?: string;
}

/** Accepts common spellings ("sqlite", "postgres", "pg", "mariadb", …) and returns the canonical dialect. */
export function parseDialect(name: string): SqlDialect {
  const key = name.trim().toLowerCase();
  if (key === "sqlite" || key === "sqlite3") return "SQLite";
  if (key === "mysql" || key === "mariadb") return "MySQL";
  if (key === "postgresql" || key === "postgres" || key === "pg" || key === "pgsql") return "PostgreSQL";
  throw new Error(`unknown SQL dialect '${name}' (expected one of: ${SQL_DIALECTS.join(", ")})`);
}

/** XiYan's nl2sql user prompt for one question. */
export function buildNl2SqlPrompt(input: Nl2SqlPromptInput): string {
  const dialect = input.dialect ?? "SQLite";
  if (!SQL_DIALECTS.includes(dialect)) throw new Error(`unknown SQL dialect '${dialect}'`);
  const question = input.question.trim();
  const evidence = (input.evidence ?? "").trim();
  return (
    `你是一名${dialect}专家，现在需要阅读并理解下面的【数据库schema】描述，以及可能用到的【参考信息】，` +
    `并运用${dialect}知识生成sql语句回答【用户问题】。\n` +
    `【用户问题】\n${question}\n\n` +
    `【数据库schema】\n${input.dbSchema.trim()}\n\n` +
    `【参考信息】\n${evidence}\n\n` +
    `【用户问题】\n${question}\n\n` +
    "```sql"
  );
}

/** The assistant turn the model is taught to produce for a gold query: the SQL in a ```sql block. */
export function formatSqlAnswer(sql: string): string {
  return "```sql\n" + sql.trim() + "\n```";
}

/**
 * The SQL in a model reply. Handles a reply that continues the prompt's open ```sql fence
 * ("SELECT …\n```"), a full ```sql … ``` block, any ``` block, or bare SQL; trims whitespace and a
 * trailing semicolon-only line. Returns "" for an empty reply.
 */
export function extractSql(reply: string): string {
  const text = reply.replace(/\r\n/g, "\n");
  const first = text.indexOf("```");
  if (first < 0) return text.trim();
  const before = text.slice(0, first).trim();
  const tagged = /^```[ \t]*(sql|sqlite|mysql|postgresql|postgres)\b/i.test(text.slice(first));
  // Text before an untagged fence is the SQL continuing the prompt's open ```sql; the fence closes it.
  if (before && !tagged) return before;
  const body = text.slice(first).replace(/^```[^\n]*\n?/, "");
  const close = body.indexOf("```");
  return (close >= 0 ? body.slice(0, close) : body).trim();
}
