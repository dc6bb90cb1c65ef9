// require('sqlfocus') from CommonJS (Node ≥ 20.19 loads the ES module synchronously). Run by scripts/consumer-check.sh.
const assert = require("node:assert/strict");
const sqlfocus = require("sqlfocus");
for (const name of ["finetune", "merge", "quantize", "mschema", "createServer", "initTinyModel", "loadTokenizer"]) {
  assert.equal(typeof sqlfocus[name], "function", `require('sqlfocus').${name}`);
}
assert.equal(require("sqlfocus/package.json").name, "sqlfocus");
console.log(`require: ${Object.keys(sqlfocus).length} names`);
