// Small made-up SQLite databases and questions, written for these tests at test time (nothing from Spider or BIRD):
// a library (authors → books → loans ← members, a genre lookup) and a zoo (keepers, animals, enclosures, feedings).
// makeSpiderLayout / makeBirdLayout lay them out as the benchmarks' folders do.
import Database from "better-sqlite3";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const LIBRARY_DDL = `
CREATE TABLE genres (genre_id INTEGER PRIMARY KEY, genre_name TEXT NOT NULL);
CREATE TABLE authors (author_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, birth_country TEXT, born_year INTEGER);
CREATE TABLE books (
  book_id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER REFERENCES authors (author_id),
  genre_id INTEGER REFERENCES genres (genre_id), pages INTEGER, published_year INTEGER, lang TEXT
);
CREATE TABLE members (member_id INTEGER PRIMARY KEY, member_name TEXT NOT NULL, city TEXT, joined DATE);
CREATE TABLE loans (
  loan_id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES books (book_id), member_id INTEGER REFERENCES members (member_id),
  loan_date DATE, returned TEXT
);
CREATE TABLE staff_rota (shift_id INTEGER PRIMARY KEY, weekday TEXT, desk TEXT, opening_hour INTEGER, closing_hour INTEGER, supervisor TEXT);
`;

const LIBRARY_ROWS = `
INSERT INTO genres VALUES (1, 'Science Fiction'), (2, 'Mystery'), (3, 'Poetry'), (4, 'Children''s Books');
INSERT INTO authors VALUES (1, 'Ursula Quill', 'Canada', 1931), (2, 'Tomas Brenner', 'Germany', 1950),
  (3, 'Aiko Tanabe', 'Japan', 1972), (4, 'Léa Moreau', 'France', 1988), (5, 'Kwame Osei', 'Ghana', 1965);
INSERT INTO books VALUES (1, 'The Glass Orchard', 1, 1, 320, 1969, 'en'), (2, 'Night Ferry', 2, 2, 210, 1981, 'de'),
  (3, 'Paper Lanterns', 3, 3, 96, 2001, 'ja'), (4, 'Salt and Cedar', 4, 2, 288, 2015, 'fr'),
  (5, 'Orbit of Small Things', 1, 1, 402, 1974, 'en'), (6, 'The Lantern Keeper', 5, 4, 64, 1999, 'en');
INSERT INTO members VALUES (1, 'Priya Natarajan', 'Leeds', '2019-03-01'), (2, 'Oscar Lindqvist', 'York', '2020-07-15'),
  (3, 'Mina Farouk', 'Leeds', '2021-01-09'), (4, 'Dara Quinn', 'Bath', '2018-11-30');
INSERT INTO loans VALUES (1, 1, 1, '2023-01-05', 'yes'), (2, 2, 1, '2023-02-11', 'no'), (3, 4, 2, '2023-02-20', 'yes'),
  (4, 3, 3, '2023-03-02', 'no'), (5, 1, 4, '2023-03-18', 'yes'), (6, 6, 3, '2023-04-01', 'yes');
INSERT INTO staff_rota VALUES (1, 'Monday', 'Front', 9, 17, 'Hal'), (2, 'Tuesday', 'Back', 10, 18, 'Ivy'), (3, 'Saturday', 'Front', 9, 13, 'Hal');
`;

export const ZOO_DDL = `
CREATE TABLE enclosures (enclosure_id INTEGER PRIMARY KEY, zone TEXT, climate TEXT, area_m2 REAL);
CREATE TABLE keepers (keeper_id INTEGER PRIMARY KEY, keeper_name TEXT, hired_year INTEGER);
CREATE TABLE animals (
  animal_id INTEGER PRIMARY KEY, nickname TEXT, species TEXT, born_year INTEGER,
  enclosure_id INTEGER REFERENCES enclosures (enclosure_id), keeper_id INTEGER REFERENCES keepers (keeper_id)
);
CREATE TABLE feedings (feeding_id INTEGER PRIMARY KEY, animal_id INTEGER REFERENCES animals (animal_id), food TEXT, kilograms REAL, fed_on DATE);
`;

const ZOO_ROWS = `
INSERT INTO enclosures VALUES (1, 'Savanna', 'dry', 5200.5), (2, 'Rainforest', 'humid', 1800), (3, 'Polar', 'cold', 950);
INSERT INTO keepers VALUES (1, 'Rosa Delgado', 2012), (2, 'Ben Okafor', 2018), (3, 'Yuki Sato', 2021);
INSERT INTO animals VALUES (1, 'Zuri', 'Giraffe', 2015, 1, 1), (2, 'Mosi', 'Lion', 2017, 1, 2), (3, 'Kiko', 'Tapir', 2019, 2, 3),
  (4, 'Nanuq', 'Polar Bear', 2012, 3, 2), (5, 'Pip', 'Red Panda', 2020, 2, 3), (6, 'Tala', 'Lion', 2021, 1, 2);
INSERT INTO feedings VALUES (1, 1, 'acacia leaves', 30, '2024-05-01'), (2, 2, 'beef', 7.5, '2024-05-01'), (3, 4, 'fish', 12, '2024-05-02'),
  (4, 5, 'bamboo', 1.2, '2024-05-02'), (5, 6, 'beef', 6, '2024-05-03'), (6, 3, 'fruit', 4, '2024-05-03');
`;

/** Writes a SQLite file from DDL and INSERTs. */
export function writeSqlite(path: string, ddl: string, rows: string): string {
  const db = new Database(path);
  try {
    db.exec(ddl);
    db.exec(rows);
  } finally {
    db.close();
  }
  return path;
}

export function writeLibrary(path: string): string {
  return writeSqlite(path, LIBRARY_DDL, LIBRARY_ROWS);
}

export function writeZoo(path: string): string {
  return writeSqlite(path, ZOO_DDL, ZOO_ROWS);
}

export interface MadeUpQuestion {
  db_id: "library" | "zoo";
  question: string;
  query: string;
  evidence: string;
  difficulty: "simple" | "moderate" | "challenging";
}

/** Questions with gold SQL (and BIRD-style evidence) over the two databases. */
export const QUESTIONS: MadeUpQuestion[] = [
  {
    db_id: "library",
    question: "How many books are there?",
    query: "SELECT count(*) FROM books",
    evidence: "",
    difficulty: "simple",
  },
  {
    db_id: "library",
    question: "List the titles of books written by authors from France.",
    query:
      "SELECT T1.title FROM books AS T1 JOIN authors AS T2 ON T1.author_id = T2.author_id WHERE T2.birth_country = 'France'",
    evidence: "from France refers to birth_country = 'France'",
    difficulty: "simple",
  },
  {
    db_id: "library",
    question: "Which members from leeds borrowed a mystery book?",
    query:
      "SELECT DISTINCT M.member_name FROM members AS M JOIN loans AS L ON M.member_id = L.member_id JOIN books AS B ON L.book_id = B.book_id JOIN genres AS G ON B.genre_id = G.genre_id WHERE M.city = 'Leeds' AND G.genre_name = 'Mystery'",
    evidence: "mystery book refers to genre_name = 'Mystery'",
    difficulty: "challenging",
  },
  {
    db_id: "library",
    question: "What is the average number of pages of science fiction books?",
    query:
      'SELECT avg(pages) FROM books JOIN genres ON books.genre_id = genres.genre_id WHERE genre_name = "Science Fiction"',
    evidence: "average number of pages = AVG(pages)",
    difficulty: "moderate",
  },
  {
    db_id: "library",
    question: "Who wrote Night Ferry?",
    query: "SELECT a.full_name FROM authors a JOIN books b ON a.author_id = b.author_id WHERE b.title = 'Night Ferry'",
    evidence: "",
    difficulty: "simple",
  },
  {
    db_id: "library",
    question: "Which loans are not returned yet? Give the loan dates.",
    query: "SELECT loan_date FROM loans WHERE returned = 'no' ORDER BY loan_date",
    evidence: "not returned refers to returned = 'no'",
    difficulty: "moderate",
  },
  {
    db_id: "zoo",
    question: "How many lions live in the zoo?",
    query: "SELECT count(*) FROM animals WHERE species = 'Lion'",
    evidence: "",
    difficulty: "simple",
  },
  {
    db_id: "zoo",
    question: "What are the nicknames of animals in the savanna enclosure looked after by Ben Okafor?",
    query:
      "SELECT a.nickname FROM animals a JOIN enclosures e ON a.enclosure_id = e.enclosure_id JOIN keepers k ON a.keeper_id = k.keeper_id WHERE e.zone = 'Savanna' AND k.keeper_name = 'Ben Okafor'",
    evidence: "savanna enclosure refers to zone = 'Savanna'",
    difficulty: "challenging",
  },
  {
    db_id: "zoo",
    question: "How many kilograms of beef were fed in total?",
    query: "SELECT sum(kilograms) FROM feedings WHERE food = 'beef'",
    evidence: "in total refers to SUM(kilograms)",
    difficulty: "moderate",
  },
  {
    db_id: "zoo",
    question: "Which keeper was hired most recently?",
    query: "SELECT keeper_name FROM keepers ORDER BY hired_year DESC LIMIT 1",
    evidence: "most recently refers to MAX(hired_year)",
    difficulty: "simple",
  },
];

/** Spider's layout: dev.json ({db_id, question, query}), tables.json, database/<db>/<db>.sqlite. */
export function makeSpiderLayout(dir: string): string {
  for (const db of ["library", "zoo"] as const) {
    mkdirSync(join(dir, "database", db), { recursive: true });
    (db === "library" ? writeLibrary : writeZoo)(join(dir, "database", db, `${db}.sqlite`));
  }
  writeFileSync(
    join(dir, "dev.json"),
    JSON.stringify(
      QUESTIONS.map(({ db_id, question, query }) => ({ db_id, question, query })),
      null,
      1,
    ),
  );
  writeFileSync(join(dir, "tables.json"), "[]");
  return dir;
}

/**
 * BIRD's layout: dev.json ({question_id, db_id, question, evidence, SQL, difficulty}), dev_tables.json,
 * dev_databases/<db>/<db>.sqlite (+ database_description/<table>.csv).
 */
export function makeBirdLayout(dir: string, split: "dev" | "train" = "dev"): string {
  for (const db of ["library", "zoo"] as const) {
    const folder = join(dir, `${split}_databases`, db);
    mkdirSync(join(folder, "database_description"), { recursive: true });
    (db === "library" ? writeLibrary : writeZoo)(join(folder, `${db}.sqlite`));
  }
  writeFileSync(
    join(dir, `${split}_databases`, "library", "database_description", "books.csv"),
    "original_column_name,column_name,column_description,data_format,value_description\n" +
      "book_id,book id,the id of the book,integer,\n" +
      'pages,,"number of pages, printed",integer,\n' +
      "lang,language,language of the text,text,ISO 639-1 code: en = English; fr = French\n",
  );
  writeFileSync(
    join(dir, `${split}.json`),
    JSON.stringify(
      QUESTIONS.map((q, i) => ({
        question_id: i,
        db_id: q.db_id,
        question: q.question,
        evidence: q.evidence,
        SQL: q.query,
        difficulty: q.difficulty,
      })),
      null,
      1,
    ),
  );
  writeFileSync(join(dir, `${split}_tables.json`), "[]");
  return dir;
}
