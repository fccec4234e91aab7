import * as vscode from 'vscode';

/**
 * Small promise wrappers around QuickPick and InputBox for multi-step flows: each step shows
 * "step/total", a Back button after the first step, and resolves to the answer, BACK, or undefined
 * when the user pressed Escape.
 */
export const BACK = Symbol('back');
export type StepResult<T> = T | typeof BACK | undefined;

interface StepOptions {
  title: string;
  step: number;
  totalSteps: number;
}

export function pickStep<T extends vscode.QuickPickItem>(o: StepOptions & { items: T[]; placeholder: string; active?: T }): Promise<StepResult<T>> {
  const qp = vscode.window.createQuickPick<T>();
  qp.title = o.title;
  qp.step = o.step;
  qp.totalSteps = o.totalSteps;
  qp.placeholder = o.placeholder;
  qp.items = o.items;
  qp.ignoreFocusOut = true;
  qp.matchOnDescription = true;
  qp.matchOnDetail = true;
  if (o.active) qp.activeItems = [o.active];
  qp.buttons = o.step > 1 ? [vscode.QuickInputButtons.Back] : [];
  return new Promise<StepResult<T>>((resolve) => {
    const subs = [
      qp.onDidTriggerButton((b) => b === vscode.QuickInputButtons.Back && finish(BACK)),
      qp.onDidAccept(() => qp.selectedItems[0] && finish(qp.selectedItems[0])),
      qp.onDidHide(() => finish(undefined)),
    ];
    let done = false;
    function finish(r: StepResult<T>) {
      if (done) return;
      done = true;
      resolve(r);
      for (const s of subs) s.dispose();
      qp.dispose();
    }
    qp.show();
  });
}

export function inputStep(
  o: StepOptions & { value: string; prompt: string; placeholder?: string; validate(text: string): string | undefined },
): Promise<StepResult<string>> {
  const box = vscode.window.createInputBox();
  box.title = o.title;
  box.step = o.step;
  box.totalSteps = o.totalSteps;
  box.value = o.value;
  box.valueSelection = [0, o.value.length];
  box.prompt = o.prompt;
  box.placeholder = o.placeholder;
  box.ignoreFocusOut = true;
  box.buttons = o.step > 1 ? [vscode.QuickInputButtons.Back] : [];
  // Validated as the user types, with the same checks the worker applies.
  const check = () => (box.validationMessage = o.validate(box.value));
  check();
  return new Promise<StepResult<string>>((resolve) => {
    const subs = [
      box.onDidChangeValue(check),
      box.onDidTriggerButton((b) => b === vscode.QuickInputButtons.Back && finish(BACK)),
      box.onDidAccept(() => !o.validate(box.value) && finish(box.value)),
      box.onDidHide(() => finish(undefined)),
    ];
    let done = false;
    function finish(r: StepResult<string>) {
      if (done) return;
      done = true;
      resolve(r);
      for (const s of subs) s.dispose();
      box.dispose();
    }
    box.show();
  });
}
