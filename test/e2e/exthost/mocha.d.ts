// The part of mocha's programmatic API the extension-host suite uses (mocha ships no types; @types/mocha
// would declare describe/it globals for every test file in this repo, which use node:test).
declare module 'mocha' {
  interface Runner {
    on(event: 'pass' | 'fail' | 'pending', fn: (test: { fullTitle(): string; duration?: number }, err?: Error) => void): Runner;
  }
  class Mocha {
    constructor(opts?: { ui?: string; timeout?: number; color?: boolean; reporter?: string });
    suite: { emit(event: 'pre-require', context: object, file: string, mocha: Mocha): void };
    run(done: (failures: number) => void): Runner;
  }
  export = Mocha;
}
