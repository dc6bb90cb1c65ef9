// JSON schemas of the server's routes: request validation (400 naming the field) and the OpenAPI document.

const usage = {
  type: "object",
  properties: {
    prompt_tokens: { type: "integer" },
    completion_tokens: { type: "integer" },
    total_tokens: { type: "integer" },
  },
} as const;

const cell = { anyOf: [{ type: "string" }, { type: "number" }, { type: "boolean" }, { type: "null" }] } as const;

const errorBody = {
  type: "object",
  properties: { statusCode: { type: "integer" }, error: { type: "string" }, message: { type: "string" } },
} as const;

const execution = {
  type: "object",
  properties: {
    status: { type: "string", enum: ["ok", "refused", "error", "timeout"] },
    code: { type: "string" },
    error: { type: "string" },
    columns: { type: "array", items: { type: "string" } },
    rows: { type: "array", items: { type: "array", items: cell } },
    truncated: { type: "boolean" },
    truncated_by: { type: "string", enum: ["rows", "bytes"] },
    ms: { type: "number" },
  },
} as const;

/** 422: the generated SQL was refused (by the check, the privilege check or the database); why, and the SQL. */
const refusedBody = {
  type: "object",
  properties: {
    statusCode: { type: "integer" },
    error: { type: "string" },
    message: { type: "string" },
    code: { type: "string" },
    sql: { type: "string" },
    dialect: { type: "string" },
    execution,
  },
} as const;

export function text2sqlSchema(maxTokensLimit: number, schemaRequired: boolean, maxSchemaChars: number) {
  return {
    summary: "Generate SQL for a question",
    description:
      "Builds XiYan's nl2sql prompt from the question and the schema (M-Schema, or DDL converted to M-Schema), " +
      "generates with the model (greedy by default) and extracts the SQL from the reply's ```sql block. " +
      "With --enable-mschema the schema comes from the configured database and `execute: true` runs the SQL read-only.",
    tags: ["text2sql"],
    body: {
      type: "object",
      required: schemaRequired ? ["question", "db_schema"] : ["question"],
      additionalProperties: false,
      properties: {
        question: { type: "string", minLength: 1, maxLength: 20000, description: "The question in natural language." },
        db_schema: {
          type: "string",
          minLength: 1,
          maxLength: maxSchemaChars,
          description: "M-Schema text or DDL (CREATE TABLE …) of the database.",
        },
        dialect: {
          type: "string",
          description: "SQLite (default), MySQL or PostgreSQL (also sqlite3, mariadb, postgres, pg).",
        },
        evidence: {
          type: "string",
          maxLength: 20000,
          description: "Extra knowledge for the question (BIRD-style evidence).",
        },
        adapter: { type: "string", description: "Name of a loaded LoRA adapter ('base' for none)." },
        max_tokens: { type: "integer", minimum: 1, maximum: maxTokensLimit },
        temperature: { type: "number", minimum: 0, maximum: 2, description: "0 (default) is greedy decoding." },
        seed: { type: "integer", minimum: 0 },
        execute: {
          type: "boolean",
          description: "Run the SQL read-only on the configured database and return the rows.",
        },
        include_prompt: { type: "boolean", description: "Return the prompt the model was asked." },
        n: {
          type: "integer",
          minimum: 1,
          maximum: 16,
          description:
            "Candidates to sample (default 1: one greedy answer). Above 1 (needs --enable-mschema): n candidates at `temperature` (default 0.7) run read-only on the configured database and vote on their results; ties go to the highest mean log-probability, candidates that fail lose.",
        },
        include_candidates: {
          type: "boolean",
          description: "With n > 1: list the candidates with their votes, log-probabilities and errors.",
        },
      },
    },
    response: {
      200: {
        type: "object",
        properties: {
          sql: { type: "string" },
          dialect: { type: "string" },
          adapter: { type: "string" },
          reply: { type: "string" },
          prompt: { type: "string" },
          finish_reason: { type: "string" },
          usage,
          ms: { type: "number" },
          execution,
          vote: {
            type: "object",
            properties: {
              n: { type: "integer" },
              temperature: { type: "number" },
              groups: { type: "integer" },
              winner: { type: "integer" },
              all_failed: { type: "boolean" },
            },
          },
          candidates: {
            type: "array",
            items: {
              type: "object",
              properties: {
                sql: { type: "string" },
                logprob: { type: "number" },
                votes: { type: "integer" },
                status: { type: "string" },
                error: { type: "string" },
              },
            },
          },
        },
      },
      422: refusedBody,
      "4xx": errorBody,
      "5xx": errorBody,
    },
  };
}

const messageContent = {
  anyOf: [
    { type: "string" },
    {
      type: "array",
      items: {
        type: "object",
        required: ["type"],
        properties: { type: { type: "string" }, text: { type: "string" } },
      },
    },
    { type: "null" },
  ],
} as const;

export function chatCompletionsSchema(maxTokensLimit: number) {
  return {
    summary: "OpenAI-compatible chat completion",
    description:
      "The same model behind an OpenAI-style endpoint (clients for OpenAI, Ollama or vLLM work unchanged). " +
      "`model` may name a loaded adapter (`<adapter>` or `<model>:<adapter>`). `stream: true` answers with server-sent events.",
    tags: ["openai"],
    body: {
      type: "object",
      required: ["messages"],
      properties: {
        model: { type: "string" },
        messages: {
          type: "array",
          minItems: 1,
          items: {
            type: "object",
            required: ["role", "content"],
            properties: {
              role: { type: "string", enum: ["system", "developer", "user", "assistant"] },
              content: messageContent,
              name: { type: "string" },
            },
          },
        },
        max_tokens: { type: ["integer", "null"], minimum: 1, maximum: maxTokensLimit },
        max_completion_tokens: { type: ["integer", "null"], minimum: 1, maximum: maxTokensLimit },
        temperature: { type: ["number", "null"], minimum: 0, maximum: 2 },
        top_p: { type: ["number", "null"], exclusiveMinimum: 0, maximum: 1 },
        top_k: { type: ["integer", "null"], minimum: 0 },
        seed: { type: ["integer", "null"] },
        stop: {
          anyOf: [{ type: "string" }, { type: "array", items: { type: "string" }, maxItems: 16 }, { type: "null" }],
        },
        stream: { type: ["boolean", "null"] },
        n: { type: ["integer", "null"], minimum: 1, maximum: 1, description: "Only 1 is supported." },
      },
    },
  };
}

export const modelsSchema = {
  summary: "Models and adapters served (OpenAI-compatible)",
  tags: ["openai"],
};

export const healthSchema = {
  summary: "Liveness and load: model, adapters, sequences in use, queue",
  tags: ["server"],
};

export const schemaGetSchema = {
  summary: "The configured database's M-Schema (with --enable-mschema)",
  tags: ["schema"],
};

export const schemaRefreshSchema = {
  summary: "Re-read the configured database's schema (with --enable-mschema)",
  tags: ["schema"],
};
