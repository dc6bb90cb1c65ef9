// Words of questions, identifiers and cell values, as schema linking and value retrieval compare them: Unicode-folded
// (case, accents), split on anything that is not a letter or digit, identifiers also at camelCase and letter/digit
// boundaries, runs of CJK characters as overlapping bigrams (those scripts write no spaces), and stemmed with the
// Porter stemmer so that plurals and inflections meet ("countries" ~ "country", "treated" ~ "treatments" by prefix).
import { stemmer } from "stemmer";

/** English function words and question phrasing that say nothing about which table, column or value is meant. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again against all also am an and any are as at be because been before being below between both " +
    "but by can could did do does doing done down during each either else ever every few for from further get gets give " +
    "given had has have having he her here hers herself him himself his how i if in into is it its itself just let list " +
    "me more most my myself neither no nor not of off on once one only or other ought our ours ourselves out over own " +
    "please per same she should show so some such tell than that the their theirs them themselves then there these they " +
    "this those through to too under until up us very was we were what whatever when where whether which while who whom " +
    "whose why will with within without would you your yours yourself yourselves find return display provide " +
    "respectively corresponding associated including include includes s t"
  ).split(" "),
);

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const WORD = /[\p{L}\p{N}]+/gu;

/** Lower case without accents (NFKD, combining marks dropped). */
export function foldText(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase();
}

function splitCjk(word: string, out: string[]): void {
  let run = "";
  const flush = () => {
    if (run.length === 1) out.push(run);
    else for (let i = 0; i + 1 < run.length; i++) out.push(run.slice(i, i + 2));
    run = "";
  };
  let rest = "";
  for (const ch of word) {
    if (CJK.test(ch)) {
      if (rest) {
        out.push(rest);
        rest = "";
      }
      run += ch;
    } else {
      if (run) flush();
      rest += ch;
    }
  }
  if (run) flush();
  if (rest) out.push(rest);
}

/** The words of a text, folded, in order (CJK runs as bigrams). */
export function textWords(text: string): string[] {
  const out: string[] = [];
  for (const m of foldText(text).matchAll(WORD)) {
    if (CJK.test(m[0])) splitCjk(m[0], out);
    else out.push(m[0]);
  }
  return out;
}

/** The words of an identifier: also split at camelCase and letter/digit boundaries ("StuID" → stu, id; "addr2" → addr, 2). */
export function identifierWords(name: string): string[] {
  const spaced = name
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, "$1 $2")
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, "$1 $2")
    .replace(/(\p{L})(\p{N})/gu, "$1 $2")
    .replace(/(\p{N})(\p{L})/gu, "$1 $2");
  return textWords(spaced);
}

/** The stem a word is compared by (CJK and digits are left as they are). */
export function stemWord(word: string): string {
  if (word.length < 3 || /^\p{N}+$/u.test(word) || CJK.test(word)) return word;
  return stemmer(word);
}

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}

/** How well a schema word matches a question word, 0..1: same stem 1, one stem a prefix of the other 0.8, an abbreviation 0.6. */
export function wordMatch(schemaStem: string, questionStem: string, questionWord: string): number {
  if (schemaStem === questionStem) return 1;
  const a = schemaStem;
  const b = questionStem;
  if (a.length >= 4 && b.length >= 4 && (a.startsWith(b) || b.startsWith(a))) return 0.8;
  // "dept" ~ department, "qty" ~ quantity, "num" ~ number: same first letter, every letter in order, shorter.
  if (
    a.length >= 3 &&
    questionWord.length > a.length + 1 &&
    a[0] === questionWord[0] &&
    !/\p{N}/u.test(a) &&
    isSubsequence(a, questionWord)
  )
    return 0.6;
  return 0;
}

function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (let j = 0; j < long.length && i < short.length; j++) if (long[j] === short[i]) i++;
  return i === short.length;
}

/** A question's content words: folded, stopwords dropped, each with its stem; in order, repeats kept once. */
export interface QuestionWord {
  word: string;
  stem: string;
}

export function questionWords(question: string): QuestionWord[] {
  const seen = new Set<string>();
  const out: QuestionWord[] = [];
  for (const word of textWords(question)) {
    if (isStopword(word) || seen.has(word)) continue;
    seen.add(word);
    out.push({ word, stem: stemWord(word) });
  }
  return out;
}
