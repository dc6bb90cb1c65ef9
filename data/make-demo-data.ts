// Writes sqlfocus's demo set: data/demo/shop.sqlite (a small shop: customers, products, orders, order_items) and
// question/SQL pairs on it, written for this project, in data/demo/train.jsonl and data/demo/dev.jsonl as
// {"question","db_schema","query","dialect"} lines (db_schema = the database's M-Schema text).
// Deterministic: the same script gives the same bytes. Run: npx tsx data/make-demo-data.ts [outDir] (see the end).
import Database from "better-sqlite3";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { formatMSchema, readSqliteSchema } from "../src/mschema/index.js";

export const DEMO_DB_ID = "shop";

const SCHEMA = `
CREATE TABLE customers (
  customer_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  city TEXT NOT NULL,
  country TEXT NOT NULL,
  signup_date DATE NOT NULL
);
CREATE TABLE products (
  product_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  category TEXT NOT NULL,
  price REAL NOT NULL,
  stock INTEGER NOT NULL
);
CREATE TABLE orders (
  order_id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
  order_date DATE NOT NULL,
  status TEXT NOT NULL
);
CREATE TABLE order_items (
  order_id INTEGER NOT NULL REFERENCES orders (order_id),
  product_id INTEGER NOT NULL REFERENCES products (product_id),
  quantity INTEGER NOT NULL,
  unit_price REAL NOT NULL,
  PRIMARY KEY (order_id, product_id)
);
`;

const CUSTOMERS: [number, string, string, string, string][] = [
  [1, "Alice Martin", "Paris", "France", "2023-01-15"],
  [2, "Bob Smith", "London", "UK", "2023-02-03"],
  [3, "Chen Wei", "Shanghai", "China", "2023-02-20"],
  [4, "Diana Rossi", "Milan", "Italy", "2023-03-11"],
  [5, "Erik Larsen", "Oslo", "Norway", "2023-04-02"],
  [6, "Fatima Khan", "London", "UK", "2023-05-19"],
  [7, "Gabriel Silva", "Lisbon", "Portugal", "2023-06-07"],
  [8, "Hana Sato", "Tokyo", "Japan", "2023-07-23"],
  [9, "Ivan Petrov", "Sofia", "Bulgaria", "2023-09-01"],
  [10, "Julia Weber", "Berlin", "Germany", "2023-10-14"],
  [11, "Karim Haddad", "Paris", "France", "2024-01-08"],
  [12, "Lucia Gomez", "Madrid", "Spain", "2024-02-27"],
];

const PRODUCTS: [number, string, string, number, number][] = [
  [1, "Espresso Machine", "Kitchen", 249.0, 12],
  [2, "Coffee Grinder", "Kitchen", 89.5, 30],
  [3, "French Press", "Kitchen", 29.9, 55],
  [4, "Chef Knife", "Kitchen", 74.0, 20],
  [5, "Desk Lamp", "Office", 39.99, 40],
  [6, "Ergonomic Chair", "Office", 329.0, 8],
  [7, "Notebook Pack", "Office", 12.5, 200],
  [8, "Fountain Pen", "Office", 45.0, 35],
  [9, "Running Shoes", "Sports", 119.0, 25],
  [10, "Yoga Mat", "Sports", 24.99, 60],
  [11, "Water Bottle", "Sports", 15.0, 120],
  [12, "Tennis Racket", "Sports", 149.0, 0],
  [13, "Wireless Headphones", "Electronics", 199.0, 18],
  [14, "USB-C Charger", "Electronics", 25.0, 90],
  [15, "Smart Watch", "Electronics", 279.0, 0],
  [16, "Gift Card", "Other", 50.0, 999],
];

const ORDERS: [number, number, string, string][] = [
  [1, 1, "2024-01-05", "delivered"],
  [2, 2, "2024-01-09", "delivered"],
  [3, 3, "2024-01-14", "delivered"],
  [4, 1, "2024-01-22", "delivered"],
  [5, 4, "2024-02-02", "delivered"],
  [6, 5, "2024-02-10", "cancelled"],
  [7, 6, "2024-02-15", "delivered"],
  [8, 2, "2024-02-21", "delivered"],
  [9, 7, "2024-03-01", "delivered"],
  [10, 8, "2024-03-04", "delivered"],
  [11, 3, "2024-03-12", "cancelled"],
  [12, 10, "2024-03-18", "delivered"],
  [13, 11, "2024-03-25", "delivered"],
  [14, 1, "2024-04-02", "delivered"],
  [15, 6, "2024-04-09", "delivered"],
  [16, 4, "2024-04-17", "delivered"],
  [17, 8, "2024-04-28", "delivered"],
  [18, 2, "2024-05-05", "delivered"],
  [19, 10, "2024-05-13", "cancelled"],
  [20, 5, "2024-05-20", "delivered"],
  [21, 3, "2024-05-29", "delivered"],
  [22, 11, "2024-06-03", "delivered"],
  [23, 7, "2024-06-11", "delivered"],
  [24, 1, "2024-06-19", "shipped"],
  [25, 6, "2024-06-24", "shipped"],
  [26, 8, "2024-06-27", "pending"],
  [27, 4, "2024-06-28", "pending"],
  [28, 2, "2024-06-29", "pending"],
  [29, 10, "2024-06-30", "pending"],
  [30, 3, "2024-06-30", "pending"],
];

/** Order lines: 1-3 per order, products 1-15 picked by a fixed rule (the Gift Card is never ordered). */
function orderItems(): [number, number, number, number][] {
  const price = new Map(PRODUCTS.map((p) => [p[0], p[3]]));
  const out: [number, number, number, number][] = [];
  for (const [orderId] of ORDERS) {
    const lines = (orderId % 3) + 1;
    const seen = new Set<number>();
    for (let k = 0; k < lines; k++) {
      const productId = ((orderId * 7 + k * 5) % 15) + 1;
      if (seen.has(productId)) continue;
      seen.add(productId);
      out.push([orderId, productId, ((orderId + k) % 3) + 1, price.get(productId)!]);
    }
  }
  return out;
}

export interface DemoExample {
  question: string;
  query: string;
}

/** Questions written for this demo database (not taken from any benchmark). */
export const DEMO_TRAIN: DemoExample[] = [
  { question: "How many customers are there?", query: "SELECT count(*) FROM customers" },
  {
    question: "List the names of all customers from London.",
    query: "SELECT name FROM customers WHERE city = 'London'",
  },
  {
    question: "What are the names and prices of the products in the Kitchen category?",
    query: "SELECT name, price FROM products WHERE category = 'Kitchen'",
  },
  {
    question: "Which products cost more than 100? Give their names.",
    query: "SELECT name FROM products WHERE price > 100",
  },
  { question: "How many orders have been cancelled?", query: "SELECT count(*) FROM orders WHERE status = 'cancelled'" },
  { question: "List all distinct product categories.", query: "SELECT DISTINCT category FROM products" },
  { question: "What is the average product price?", query: "SELECT avg(price) FROM products" },
  {
    question: "What is the name and price of the most expensive product?",
    query: "SELECT name, price FROM products ORDER BY price DESC LIMIT 1",
  },
  {
    question: "How many customers are there in each country?",
    query: "SELECT country, count(*) FROM customers GROUP BY country",
  },
  { question: "Which products are out of stock?", query: "SELECT name FROM products WHERE stock = 0" },
  {
    question: "List the emails of customers who signed up in 2024.",
    query: "SELECT email FROM customers WHERE strftime('%Y', signup_date) = '2024'",
  },
  {
    question: "Show each customer's name and the number of orders they placed.",
    query:
      "SELECT T1.name, count(*) FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id GROUP BY T1.customer_id",
  },
  {
    question: "Which customers have never placed an order?",
    query: "SELECT name FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)",
  },
  {
    question: "What is the total quantity sold of each product? Show the product name and the quantity.",
    query:
      "SELECT T1.name, sum(T2.quantity) FROM products AS T1 JOIN order_items AS T2 ON T1.product_id = T2.product_id GROUP BY T1.product_id",
  },
  {
    question: "Count the products in each category.",
    query: "SELECT category, count(*) FROM products GROUP BY category",
  },
  {
    question: "What is the cheapest product in the Sports category?",
    query: "SELECT name FROM products WHERE category = 'Sports' ORDER BY price ASC LIMIT 1",
  },
  {
    question: "List the ids and dates of the orders placed in March 2024.",
    query: "SELECT order_id, order_date FROM orders WHERE order_date BETWEEN '2024-03-01' AND '2024-03-31'",
  },
  {
    question: "Which cities have more than one customer?",
    query: "SELECT city FROM customers GROUP BY city HAVING count(*) > 1",
  },
  {
    question: "What is the total revenue of all delivered orders?",
    query:
      "SELECT sum(T2.quantity * T2.unit_price) FROM orders AS T1 JOIN order_items AS T2 ON T1.order_id = T2.order_id WHERE T1.status = 'delivered'",
  },
  {
    question: "What is the name of the customer who placed order 7?",
    query:
      "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id WHERE T2.order_id = 7",
  },
  {
    question: "How many different products are in order 12?",
    query: "SELECT count(DISTINCT product_id) FROM order_items WHERE order_id = 12",
  },
  {
    question: "List the names of the products Alice Martin has ordered.",
    query:
      "SELECT DISTINCT T4.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id JOIN order_items AS T3 ON T2.order_id = T3.order_id JOIN products AS T4 ON T3.product_id = T4.product_id WHERE T1.name = 'Alice Martin'",
  },
  { question: "How many orders are pending?", query: "SELECT count(*) FROM orders WHERE status = 'pending'" },
  {
    question: "What is the total stock of Office products?",
    query: "SELECT sum(stock) FROM products WHERE category = 'Office'",
  },
  {
    question: "Which customers live in France? List their names and cities.",
    query: "SELECT name, city FROM customers WHERE country = 'France'",
  },
  {
    question: "What are the ids and statuses of the orders placed by Bob Smith?",
    query:
      "SELECT T1.order_id, T1.status FROM orders AS T1 JOIN customers AS T2 ON T1.customer_id = T2.customer_id WHERE T2.name = 'Bob Smith'",
  },
  {
    question: "List the products and their prices from the cheapest to the most expensive.",
    query: "SELECT name, price FROM products ORDER BY price ASC",
  },
  {
    question: "How many orders were placed in each month of 2024?",
    query:
      "SELECT strftime('%m', order_date), count(*) FROM orders WHERE strftime('%Y', order_date) = '2024' GROUP BY strftime('%m', order_date)",
  },
  { question: "What is the average quantity of an order line?", query: "SELECT avg(quantity) FROM order_items" },
  {
    question: "Which product categories have an average price above 100?",
    query: "SELECT category FROM products GROUP BY category HAVING avg(price) > 100",
  },
  {
    question: "Give the names of the customers who placed more than two orders.",
    query:
      "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id GROUP BY T1.customer_id HAVING count(*) > 2",
  },
  { question: "When was the most recent order placed?", query: "SELECT max(order_date) FROM orders" },
  {
    question: "Who was the first customer to sign up?",
    query: "SELECT name FROM customers ORDER BY signup_date ASC LIMIT 1",
  },
  {
    question: "List the names of the products that have never been ordered.",
    query: "SELECT name FROM products WHERE product_id NOT IN (SELECT product_id FROM order_items)",
  },
  {
    question: "Find the customers whose name starts with the letter J.",
    query: "SELECT name FROM customers WHERE name LIKE 'J%'",
  },
  {
    question: "What is the total value of order 5?",
    query: "SELECT sum(quantity * unit_price) FROM order_items WHERE order_id = 5",
  },
  {
    question: "Show each order id with the total quantity of items in it.",
    query: "SELECT order_id, sum(quantity) FROM order_items GROUP BY order_id",
  },
  {
    question: "Which countries have customers with a cancelled order?",
    query:
      "SELECT DISTINCT T1.country FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id WHERE T2.status = 'cancelled'",
  },
  {
    question: "How many products cost between 20 and 50?",
    query: "SELECT count(*) FROM products WHERE price BETWEEN 20 AND 50",
  },
  {
    question: "List the three most expensive products.",
    query: "SELECT name FROM products ORDER BY price DESC LIMIT 3",
  },
  {
    question: "What is the total revenue of each product category?",
    query:
      "SELECT T1.category, sum(T2.quantity * T2.unit_price) FROM products AS T1 JOIN order_items AS T2 ON T1.product_id = T2.product_id GROUP BY T1.category",
  },
  {
    question: "Which customer has spent the most in total?",
    query:
      "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id JOIN order_items AS T3 ON T2.order_id = T3.order_id GROUP BY T1.customer_id ORDER BY sum(T3.quantity * T3.unit_price) DESC LIMIT 1",
  },
  {
    question: "How many customers signed up before June 2023?",
    query: "SELECT count(*) FROM customers WHERE signup_date < '2023-06-01'",
  },
  {
    question: "Show every order status with the number of orders that have it.",
    query: "SELECT status, count(*) FROM orders GROUP BY status",
  },
  {
    question: "What are the names of the customers in Germany or Spain?",
    query: "SELECT name FROM customers WHERE country = 'Germany' OR country = 'Spain'",
  },
  {
    question: "Which Electronics products are in stock?",
    query: "SELECT name FROM products WHERE category = 'Electronics' AND stock > 0",
  },
  {
    question: "What is the largest quantity of one product in a single order?",
    query: "SELECT max(quantity) FROM order_items",
  },
  {
    question: "List the customers who have ordered a Yoga Mat.",
    query:
      "SELECT DISTINCT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id JOIN order_items AS T3 ON T2.order_id = T3.order_id JOIN products AS T4 ON T3.product_id = T4.product_id WHERE T4.name = 'Yoga Mat'",
  },
];

export const DEMO_DEV: DemoExample[] = [
  { question: "How many products are there?", query: "SELECT count(*) FROM products" },
  { question: "List the names of the customers from Paris.", query: "SELECT name FROM customers WHERE city = 'Paris'" },
  { question: "What is the price of the Smart Watch?", query: "SELECT price FROM products WHERE name = 'Smart Watch'" },
  {
    question: "How many orders are pending or shipped?",
    query: "SELECT count(*) FROM orders WHERE status IN ('pending', 'shipped')",
  },
  {
    question: "What is the average price of Sports products?",
    query: "SELECT avg(price) FROM products WHERE category = 'Sports'",
  },
  {
    question: "Which customers placed an order on June 30, 2024?",
    query:
      "SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.customer_id = T2.customer_id WHERE T2.order_date = '2024-06-30'",
  },
  {
    question: "What is the highest price in each category?",
    query: "SELECT category, max(price) FROM products GROUP BY category",
  },
  {
    question: "How many orders has Chen Wei placed?",
    query:
      "SELECT count(*) FROM orders AS T1 JOIN customers AS T2 ON T1.customer_id = T2.customer_id WHERE T2.name = 'Chen Wei'",
  },
  {
    question: "List the products with fewer than 20 units in stock and their stock.",
    query: "SELECT name, stock FROM products WHERE stock < 20",
  },
  {
    question: "How many Espresso Machines have been sold in total?",
    query:
      "SELECT sum(T1.quantity) FROM order_items AS T1 JOIN products AS T2 ON T1.product_id = T2.product_id WHERE T2.name = 'Espresso Machine'",
  },
  {
    question: "Which countries have more than one customer?",
    query: "SELECT country FROM customers GROUP BY country HAVING count(*) > 1",
  },
  {
    question: "What is the total revenue of the orders placed in June 2024 that were not cancelled?",
    query:
      "SELECT sum(T2.quantity * T2.unit_price) FROM orders AS T1 JOIN order_items AS T2 ON T1.order_id = T2.order_id WHERE T1.order_date LIKE '2024-06-%' AND T1.status != 'cancelled'",
  },
];

function email(name: string): string {
  return name.toLowerCase().replace(/ /g, ".") + "@example.com";
}

/** Creates the demo SQLite database at `path` (replacing it), deterministically. */
export function writeDemoDatabase(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  try {
    db.pragma("journal_mode = DELETE");
    db.exec(SCHEMA);
    const insert = db.transaction(() => {
      const c = db.prepare("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)");
      for (const [id, name, city, country, signup] of CUSTOMERS) c.run(id, name, email(name), city, country, signup);
      const p = db.prepare("INSERT INTO products VALUES (?, ?, ?, ?, ?)");
      for (const row of PRODUCTS) p.run(...row);
      const o = db.prepare("INSERT INTO orders VALUES (?, ?, ?, ?)");
      for (const row of ORDERS) o.run(...row);
      const i = db.prepare("INSERT INTO order_items VALUES (?, ?, ?, ?)");
      for (const row of orderItems()) i.run(...row);
    });
    insert();
    db.exec("VACUUM");
  } finally {
    db.close();
  }
  renameSync(tmp, path);
}

/** Writes shop.sqlite, train.jsonl and dev.jsonl into `outDir`; returns their paths. */
export function makeDemoData(outDir: string): { db: string; train: string; dev: string; schema: string } {
  const db = join(outDir, `${DEMO_DB_ID}.sqlite`);
  writeDemoDatabase(db);
  const schema = formatMSchema(readSqliteSchema(db, { dbId: DEMO_DB_ID }));
  const lines = (examples: DemoExample[]) =>
    examples
      .map((e) => JSON.stringify({ question: e.question, db_schema: schema, query: e.query, dialect: "SQLite" }))
      .join("\n") + "\n";
  const write = (name: string, text: string) => {
    const p = join(outDir, name);
    writeFileSync(`${p}.tmp-${process.pid}`, text);
    renameSync(`${p}.tmp-${process.pid}`, p);
    return p;
  };
  return { db, train: write("train.jsonl", lines(DEMO_TRAIN)), dev: write("dev.jsonl", lines(DEMO_DEV)), schema };
}

// Run as a script: `[outDir] [--db-only [--if-missing]]`. `npm install` (prepare) runs
// `node dist/data/make-demo-data.js data/demo --db-only --if-missing`: the JSONL files are committed, the SQLite
// file is made on the machine (a binary that any script can rebuild byte for byte is not kept in git).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const positional = args.filter((a) => !a.startsWith("--"));
  const outDir = resolve(positional[0] ?? join(dirname(fileURLToPath(import.meta.url)), "demo"));
  if (args.includes("--db-only")) {
    const db = join(outDir, `${DEMO_DB_ID}.sqlite`);
    if (!(args.includes("--if-missing") && existsSync(db))) {
      writeDemoDatabase(db);
      process.stdout.write(`sqlfocus: wrote the demo database ${db}\n`);
    }
  } else {
    const r = makeDemoData(outDir);
    process.stdout.write(
      `wrote ${r.db}, ${r.train} (${DEMO_TRAIN.length} examples), ${r.dev} (${DEMO_DEV.length} examples)\n`,
    );
  }
}
