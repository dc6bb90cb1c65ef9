// Expected M-Schema texts of Spider databases, written out by hand (not produced by the code under test) so the
// tests that need them (mschema-sqlite, eval-prepare) share one copy. Derived by reading each column with the
// sqlite3 shell (SELECT DISTINCT col FROM t LIMIT 5) and applying the reference M-Schema tool's rules: tables by
// name, SQLAlchemy's reflected types, three distinct example values (Is_male: 'F'/'T' read through SQLAlchemy's
// Boolean, both true), foreign keys last.

/** concert_singer (Spider dev-0's database) as the reference M-Schema tool prints it. */
export const CONCERT_SINGER_MSCHEMA = [
  "【DB_ID】 concert_singer",
  "【Schema】",
  "# Table: concert",
  "[",
  "(concert_ID:INTEGER, Primary Key, Examples: [1, 2, 3]),",
  "(concert_Name:TEXT, Examples: [Auditions, Super bootcamp, Home Visits]),",
  "(Theme:TEXT, Examples: [Free choice, Free choice 2, Bleeding Love]),",
  "(Stadium_ID:TEXT, Examples: [1, 2, 10]),",
  "(Year:TEXT, Examples: [2014, 2015])",
  "]",
  "# Table: singer",
  "[",
  "(Singer_ID:INTEGER, Primary Key, Examples: [1, 2, 3]),",
  "(Name:TEXT, Examples: [Joe Sharp, Timbaland, Justin Brown]),",
  "(Country:TEXT, Examples: [Netherlands, United States, France]),",
  "(Song_Name:TEXT, Examples: [You, Dangerous, Hey Oh]),",
  "(Song_release_year:TEXT, Examples: [1992, 2008, 2013]),",
  "(Age:INTEGER, Examples: [52, 32, 29]),",
  "(Is_male:BOOLEAN, Examples: [True, True])",
  "]",
  "# Table: singer_in_concert",
  "[",
  "(concert_ID:INTEGER, Primary Key, Examples: [1, 2, 3]),",
  "(Singer_ID:TEXT, Primary Key, Examples: [2, 3, 5])",
  "]",
  "# Table: stadium",
  "[",
  "(Stadium_ID:INTEGER, Primary Key, Examples: [1, 2, 3]),",
  "(Location:TEXT, Examples: [Raith Rovers, Ayr United, East Fife]),",
  "(Name:TEXT, Examples: [Stark's Park, Somerset Park, Bayview Stadium]),",
  "(Capacity:INTEGER, Examples: [10104, 11998, 2000]),",
  "(Highest:INTEGER, Examples: [4812, 2363, 1980]),",
  "(Lowest:INTEGER, Examples: [1294, 1057, 533]),",
  "(Average:INTEGER, Examples: [2106, 1477, 864])",
  "]",
  "【Foreign keys】",
  "concert.Stadium_ID=stadium.Stadium_ID",
  "singer_in_concert.concert_ID=concert.concert_ID",
  "singer_in_concert.Singer_ID=singer.Singer_ID",
].join("\n");
