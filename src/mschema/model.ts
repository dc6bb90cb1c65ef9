// The one schema model every reader fills and formatMSchema prints.

export interface ColumnSchema {
  name: string;
  /** Type as the reference tool sees it (SQLAlchemy's reflected type, e.g. "VARCHAR(20)", "INTEGER"); printed without its size. */
  type: string;
  /** Column comment ("" when none). */
  comment: string;
  primaryKey: boolean;
  nullable: boolean;
  /** Distinct non-null, non-empty sample values already turned into text, in storage order (up to five). */
  examples: string[];
  /** Cell values that match the question (value retrieval, see link.ts): shown first in Examples, whatever their form. */
  matchedValues?: string[];
}

export interface TableSchema {
  /** Table name as printed: PostgreSQL tables outside `public` are "schema.table". */
  name: string;
  /** Table comment ("" when none). */
  comment: string;
  columns: ColumnSchema[];
}

export interface ForeignKey {
  /** Table names as in TableSchema.name. */
  table: string;
  column: string;
  refTable: string;
  refColumn: string;
}

export interface DatabaseSchema {
  dbId: string;
  tables: TableSchema[];
  /** One entry per column pair (multi-column keys give several entries). */
  foreignKeys: ForeignKey[];
}

export type Dialect = "sqlite" | "mysql" | "postgresql";
