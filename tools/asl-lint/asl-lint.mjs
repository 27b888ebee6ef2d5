// Validates every AWS::Serverless::StateMachine definition in a SAM template with
// asl-validator, after the substitutions CloudFormation would make
// (DefinitionSubstitutions), so a definition that AWS would refuse fails `make lint`.
//
// usage: node asl-lint.mjs TEMPLATE
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseDocument } from "yaml";

const require = createRequire(import.meta.url);
const aslValidator = require("asl-validator");

// CloudFormation's short-form intrinsics (!Ref, !GetAtt, !Sub …) as plain values: only
// the definition is validated, and a substitution's value only has to look like an ARN.
const intrinsics = ["Ref", "GetAtt", "Sub", "Join", "If", "Not", "Equals", "Select", "Split", "FindInMap", "ImportValue", "Base64", "Cidr", "GetAZs", "And", "Or", "Condition"];
const customTags = intrinsics.flatMap((name) =>
  ["scalar", "seq", "map"].map((collection) => ({
    tag: `!${name}`,
    collection: collection === "scalar" ? undefined : collection,
    resolve: (value) => ({ [name]: value }),
  })),
);

function substituted(definition, substitutions) {
  let text = JSON.stringify(definition);
  for (const name of Object.keys(substitutions ?? {})) {
    const arn = `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
    text = text.split("${" + name + "}").join(arn);
  }
  const left = text.match(/\$\{[A-Za-z0-9_]+\}/);
  if (left) throw new Error(`no DefinitionSubstitutions value for ${left[0]}`);
  return JSON.parse(text);
}

const path = process.argv[2];
const document = parseDocument(readFileSync(path, "utf8"), { customTags });
if (document.errors.length > 0) {
  console.error(document.errors.map(String).join("\n"));
  process.exit(1);
}
const template = document.toJS();
let failed = false;
let validated = 0;
for (const [name, resource] of Object.entries(template.Resources ?? {})) {
  if (resource.Type !== "AWS::Serverless::StateMachine") continue;
  const { Definition, DefinitionSubstitutions } = resource.Properties ?? {};
  if (!Definition) {
    console.error(`${name}: no inline Definition to validate`);
    failed = true;
    continue;
  }
  const { isValid, errorsText } = aslValidator(substituted(Definition, DefinitionSubstitutions));
  validated += 1;
  if (isValid) {
    console.log(`${name}: valid ASL`);
  } else {
    console.error(`${name}: ${errorsText("\n")}`);
    failed = true;
  }
}
if (validated === 0) {
  console.error(`${path}: no state machine found`);
  failed = true;
}
process.exit(failed ? 1 : 0);
