import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Recipe } from '../core/config';
import { DATASET_KINDS } from '../core/datasets';
import { METHOD_IDS, METHOD_INFO } from '../core/methods';
import { defaultCacheDir } from '../data/cache';
import { DatasetError } from '../data/idx';
import { BACK, inputStep, pickStep, type StepResult } from './quickInput';
import {
  applyRunDefaults,
  cachedDatasets,
  configFileText,
  datasetSpecForFolder,
  discoverDatasets,
  keyFields,
  parseInput,
  recipeChoices,
  resolveDatasetPath,
  resolveOrThrow,
  setPath,
  suggestedFileName,
  validateAnswer,
  type RawConfig,
  type WizardField,
} from './newRunModel';
import type { Services } from './services';

type Action = 'start' | 'save' | 'both';

/**
 * New Run…: method → dataset → recipe (short or paper, each with what it sets differently) → epochs,
 * batch size, learning rate, the method's own hyper-parameters, encoder → start and/or save as a config file. Every box is prefilled with the method's default and
 * validated by resolveConfig as the user types. Given a config object as argument (automation, tests),
 * it starts that run without asking. Resolves to the new run's id, if one was started.
 */
export async function newRun(s: Services, preset?: unknown): Promise<number | undefined> {
  if (preset && typeof preset === 'object' && 'method' in preset) return start(s, preset as RawConfig);
  const title = 'Contrastive Lab: New Run';
  let method: string | undefined;
  let dataset: string | undefined;
  let recipe: Recipe = 'short';
  const answers = new Map<string, unknown>();
  let fields: WizardField[] = keyFields(METHOD_IDS[0], recipe);
  const raw = (): RawConfig => {
    let r: RawConfig = { method, dataset, recipe };
    for (const f of fields) if (answers.has(f.path)) r = setPath(r, f.path, answers.get(f.path));
    return r;
  };
  let i = 0;
  for (;;) {
    const totalSteps = 3 + fields.length + 1;
    const o = { title, step: i + 1, totalSteps };
    let r: StepResult<unknown>;
    if (i === 0) {
      const items = METHOD_IDS.map((id) => ({ label: METHOD_INFO[id].label, description: id, detail: METHOD_INFO[id].summary, id }));
      const picked = await pickStep({ ...o, items, placeholder: 'Self-supervised method', active: items.find((it) => it.id === method) });
      if (picked && picked !== BACK && picked.id !== method) {
        method = picked.id;
        fields = keyFields(method, recipe);
        answers.clear(); // another method's values do not carry over
      }
      r = picked;
    } else if (i === 1) {
      r = await pickDataset(s, o, dataset);
      if (typeof r === 'string') dataset = r;
    } else if (i === 2) {
      const items = recipeChoices(method!).map((c) => ({ ...c, detail: c.detail || 'the same values as the other recipe for this method' }));
      const picked = await pickStep({ ...o, items, placeholder: 'Recipe: the defaults the next steps start from (values you change win)', active: items.find((it) => it.recipe === recipe) });
      if (picked && picked !== BACK && picked.recipe !== recipe) {
        recipe = picked.recipe;
        fields = keyFields(method!, recipe);
        answers.clear(); // the answers were offered as the other recipe's defaults
      }
      r = picked;
    } else if (i < 3 + fields.length) {
      const f = fields[i - 3];
      r = await askField(o, f, raw(), answers.has(f.path) ? answers.get(f.path) : f.default);
      if (r !== BACK && r !== undefined) answers.set(f.path, r);
    } else {
      const items: (vscode.QuickPickItem & { action: Action })[] = [
        { label: '$(play) Start Run', detail: summary(raw()), action: 'start' },
        { label: '$(save) Save as Config File…', detail: 'Write a *.clrun.json file to edit, share or run later (also with `clab train --config`)', action: 'save' },
        { label: '$(run-all) Start and Save as Config File…', action: 'both' },
      ];
      const picked = await pickStep({ ...o, items, placeholder: 'Start the run, or keep its configuration in a file' });
      if (picked && picked !== BACK) {
        const config = raw();
        if (picked.action !== 'start' && !(await saveConfigFile(config))) continue;
        return picked.action === 'save' ? undefined : start(s, config);
      }
      r = picked;
    }
    if (r === undefined) return undefined; // Escape
    i = r === BACK ? Math.max(0, i - 1) : i + 1;
  }
}

function summary(r: RawConfig): string {
  return Object.entries(r)
    .filter(([k]) => k !== 'method')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' · ');
}

async function askField(o: { title: string; step: number; totalSteps: number }, f: WizardField, raw: RawConfig, current: unknown): Promise<StepResult<unknown>> {
  if (f.spec.kind === 'enum' || f.spec.kind === 'boolean') {
    const values = f.spec.kind === 'enum' ? [...f.spec.values] : ['true', 'false'];
    const descriptions = f.spec.kind === 'enum' ? f.spec.valueDescriptions : undefined;
    const items = values.map((v, k) => ({ label: v, description: v === String(f.default) ? 'default' : undefined, detail: descriptions?.[k], v }));
    const picked = await pickStep({ ...o, items, placeholder: `${f.title} — ${f.description}`, active: items.find((it) => it.v === String(current)) });
    if (picked === BACK || picked === undefined) return picked;
    return parseInput(f, picked.v).value;
  }
  const r = await inputStep({ ...o, value: String(current), prompt: `${f.title}: ${f.description} (default ${String(f.default)})`, validate: (t) => validateAnswer(raw, f, t) });
  if (r === BACK || r === undefined) return r;
  return parseInput(f, r).value;
}

async function pickDataset(s: Services, o: { title: string; step: number; totalSteps: number }, current: string | undefined): Promise<StepResult<string>> {
  const settings = s.settings();
  type Item = vscode.QuickPickItem & { spec?: string; action?: 'browse' | 'type' };
  const seen = new Set<string>();
  const items: Item[] = [];
  const add = (it: Item) => {
    if (it.spec && seen.has(it.spec)) return;
    if (it.spec) seen.add(it.spec);
    items.push(it);
  };
  add({ label: 'builtin', description: 'Fashion-MNIST subset shipped with Contrastive Lab', detail: '7,000 images of 28×28 clothing in 10 classes; trains in minutes on a CPU', spec: 'builtin' });
  if (settings.defaultDataset !== 'builtin') add({ label: settings.defaultDataset, description: 'default dataset (setting)', spec: settings.defaultDataset });
  // Downloaded sets and decoded image folders in the cache the CLI shares (`clab data download`).
  for (const d of cachedDatasets(defaultCacheDir())) add({ label: d.label, description: d.description, detail: d.detail, spec: d.spec });
  for (const d of discoverDatasets(settings.datasetFolder)) add({ label: d.label, description: 'dataset folder', detail: d.detail, spec: d.spec });
  for (const v of s.tree.all()) add({ label: v.row.dataset, description: 'used by earlier runs', spec: v.row.dataset });
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
  items.push({ label: '$(folder-opened) Choose a Dataset Folder…', description: 'MNIST/Fashion-MNIST IDX files, CIFAR binary batches, or images in class folders', action: 'browse' });
  items.push({ label: '$(edit) Enter a Dataset Spec…', description: 'builtin, cifar10, fashion-mnist:DIR, folder:DIR, …', action: 'type' });
  const active = items.find((it) => it.spec === (current ?? settings.defaultDataset));
  for (;;) {
    const picked = await pickStep({ ...o, items, placeholder: 'Dataset', active });
    if (picked === BACK || picked === undefined) return picked;
    if (picked.spec) return picked.spec;
    if (picked.action === 'browse') {
      const dirs = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use This Dataset', title: 'Dataset folder: IDX files, CIFAR binary batches, or images in class folders' });
      if (!dirs?.length) continue;
      const dir = dirs[0].fsPath;
      const spec = datasetSpecForFolder(dir);
      if (spec) return spec;
      void vscode.window.showWarningMessage(
        `Contrastive Lab: ${dir} holds no dataset it can read: the four MNIST/Fashion-MNIST IDX files, CIFAR-10/100 binary batches (data_batch_1.bin…, train.bin), or PNG/JPEG images (one sub-folder per class).`,
      );
      continue;
    }
    const typed = await inputStep({
      ...o,
      value: current ?? settings.defaultDataset,
      prompt: `Dataset: builtin, a downloaded set (mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse) or KIND:DIR with KIND one of ${DATASET_KINDS.join(', ')}`,
      validate: (t) => validateAnswer({ method: METHOD_IDS[0] }, { path: 'dataset', title: 'Dataset', description: '', spec: { kind: 'string', description: '' }, default: 'builtin' }, t),
    });
    if (typed === undefined) return undefined;
    if (typed !== BACK) return typed.trim() || 'builtin';
  }
}

function workspaceDir(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

async function saveConfigFile(raw: RawConfig): Promise<vscode.Uri | undefined> {
  const base = workspaceDir();
  const defaultUri = base ? vscode.Uri.file(path.join(base, suggestedFileName(raw))) : undefined;
  let uri = await vscode.window.showSaveDialog({ defaultUri, filters: { 'Contrastive Lab run config': ['clrun.json'] }, saveLabel: 'Save Run Config', title: 'Save as Config File' });
  if (!uri) return undefined;
  // The schema (completion, validation) applies to *.clrun.json only.
  if (!uri.path.endsWith('.clrun.json')) uri = uri.with({ path: uri.path.replace(/(\.json)?$/, '.clrun.json') });
  await vscode.workspace.fs.writeFile(uri, Buffer.from(configFileText(raw)));
  await vscode.window.showTextDocument(uri, { preview: false });
  return uri;
}

/** Validates (again: the user may have gone back and changed the method) and queues the run. */
export async function start(s: Services, raw: RawConfig): Promise<number | undefined> {
  const base = workspaceDir();
  let config;
  try {
    config = resolveOrThrow(applyRunDefaults(base ? resolveDatasetPath(raw, base) : raw, { backend: s.settings().backend }));
  } catch (e) {
    void vscode.window.showErrorMessage(`Contrastive Lab: the run config is not valid:\n${(e as Error).message}`);
    return undefined;
  }
  let runId: number;
  try {
    runId = await s.manager.enqueue(config, { dbPath: s.settings().dbPath, cwd: base });
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    void vscode.window.showErrorMessage(`Contrastive Lab: the dataset cannot be read (no run was recorded):\n${e.message}`);
    return undefined;
  }
  void s.tree.reveal(runId);
  return runId;
}

