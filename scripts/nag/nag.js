// Runs cdk-nag's AwsSolutions pack on archc's compiled CloudFormation templates.
// Usage: node nag.js OUT_ENV_DIR...   (normally through ../nag.sh)
//
// Each template is loaded into its own App/Stack with cloudformation_include.CfnInclude,
// so logical ids, properties and each resource's Metadata stay as written. cdk-nag reads
// suppressions with node.getMetadata('cdk_nag'), which on a CfnResource is
// cfnOptions.metadata, and CfnInclude fills that from the template's Metadata: so
// {"cdk_nag": {"rules_to_suppress": [...]}} written by archc is honoured as is (checked
// with a hand-made template, one suppressed and one unsuppressed finding).
// Findings are collected by an INagLogger (cdk-nag's own hook, fed the same events as its
// annotations and NagReport CSVs), which also sees suppressed findings and their reasons.
//
// cdk-nag is pinned to the last 2.x: 3.x moved to Validations.of().acknowledge(), no longer
// reads cdk_nag Metadata suppressions and drops applies_to-free rule-wide suppressions.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { App, Aspects, Stack } = require('aws-cdk-lib');
const { CfnInclude } = require('aws-cdk-lib/cloudformation-include');
const { AwsSolutionsChecks } = require('cdk-nag');

function templatesIn(envDir) {
  // Templates live in <env>/<region>/*.json; manifest.json and plan.json sit in <env>
  // itself, assets/ holds zips. Anything without "Resources" is not a template.
  const found = [];
  for (const sub of fs.readdirSync(envDir, { withFileTypes: true })) {
    if (!sub.isDirectory()) continue;
    const dir = path.join(envDir, sub.name);
    for (const name of fs.readdirSync(dir).sort()) {
      if (!name.endsWith('.json') || name === 'manifest.json' || name.startsWith('plan')) continue;
      const file = path.join(dir, name);
      let body;
      try { body = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { continue; }
      if (body && typeof body === 'object' && body.Resources) found.push(file);
    }
  }
  return found;
}

class Collector {
  constructor() { this.findings = []; }
  add(kind, d, extra) {
    const r = d.resource;
    const rule = d.findingId ? `${d.ruleId}[${d.findingId}]` : d.ruleId;
    this.findings.push({ kind, rule, baseRule: d.ruleId, logicalId: r.stack.resolve(r.logicalId), info: d.ruleInfo, ...extra });
  }
  onNonCompliance(d) { this.add(d.ruleLevel === 'Error' ? 'ERROR' : 'WARN', d); }
  onSuppressed(d) { this.add('SUPPRESSED', d, { reason: d.suppressionReason }); }
  // A rule that throws (typically on an intrinsic it cannot evaluate) is a warning in
  // cdk-nag's own annotations, under the id CdkNagValidationFailure.
  onError(d) {
    this.add('WARN', { ...d, ruleId: 'CdkNagValidationFailure', findingId: d.ruleId },
      { info: `${d.ruleId} could not evaluate: ${d.errorMessage}` });
  }
  onSuppressedError(d) {
    this.add('SUPPRESSED', { ...d, ruleId: 'CdkNagValidationFailure', findingId: d.ruleId }, { reason: d.errorSuppressionReason });
  }
  onCompliance() {}
  onNotApplicable() {}
}

// archc reads another region's stack output with Fn::GetStackOutput, which CfnInclude
// rejects ("Unsupported CloudFormation function"). Stand it in by an Fn::ImportValue of
// a literal name: both are values unknown until deploy, which is how the rules see them.
function standIn(node) {
  if (Array.isArray(node)) return node.map(standIn);
  if (!node || typeof node !== 'object') return node;
  const keys = Object.keys(node);
  if (keys.length === 1 && keys[0] === 'Fn::GetStackOutput') {
    const o = node['Fn::GetStackOutput'];
    return { 'Fn::ImportValue': `${o.Region}:${o.StackName}.${o.OutputName}` };
  }
  return Object.fromEntries(keys.map((k) => [k, standIn(node[k])]));
}

function check(file) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'archc-nag-'));
  try {
    const templateFile = path.join(outdir, 'template.json');
    fs.writeFileSync(templateFile, JSON.stringify(standIn(JSON.parse(fs.readFileSync(file, 'utf8')))));
    const app = new App({ outdir });
    const stack = new Stack(app, path.basename(file, '.json'));
    new CfnInclude(stack, 'Template', { templateFile });
    const collector = new Collector();
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true, reports: false, additionalLoggers: [collector] }));
    app.synth();
    return collector.findings;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

function resourceCount(file) { return Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).Resources).length; }

function oneLine(s) { return String(s).replace(/\s+/g, ' ').trim(); }

function main(dirs) {
  let templates = 0, errors = 0, warnings = 0, suppressed = 0;
  for (const dir of dirs) {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      console.log(`ERROR  LoadFailure  -  ${dir}: no such directory (compile it first: archc compile --env ENV)`);
      errors++;
      continue;
    }
    const files = templatesIn(dir);
    if (files.length === 0) {
      console.log(`ERROR  LoadFailure  -  ${dir}: no CloudFormation templates in its region folders`);
      errors++;
    }
    for (const file of files) {
      templates++;
      let findings;
      try {
        findings = check(file);
      } catch (e) {
        console.log(`== ${file}`);
        console.log(`ERROR  LoadFailure  -  template could not be loaded: ${oneLine(e.message)}`);
        errors++;
        continue;
      }
      const n = (k) => findings.filter((f) => f.kind === k).length;
      console.log(`== ${file} (${resourceCount(file)} resources): ${n('ERROR')} errors, ${n('WARN')} warnings, ${n('SUPPRESSED')} suppressed`);
      for (const f of findings) {
        if (f.kind === 'SUPPRESSED') {
          console.log(`SUPPRESSED ${f.rule} ${f.logicalId} reason: ${oneLine(f.reason)}`);
          suppressed++;
        } else {
          console.log(`${f.kind.padEnd(5)}  ${f.rule}  ${f.logicalId}  ${oneLine(f.info)}`);
          if (f.kind === 'ERROR') errors++; else warnings++;
        }
      }
    }
  }
  console.log(`${templates} templates, ${errors} errors, ${warnings} warnings, ${suppressed} suppressed`);
  return errors > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2).length ? process.argv.slice(2) : ['out/prod']);
