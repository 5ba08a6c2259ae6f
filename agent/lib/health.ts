// What /healthz and /readyz answer. Each is a set of named checks that return a problem
// (one line an operator can act on) or nothing; the endpoint passes when none returns
// a problem.
//
// Liveness asks only what a restart would fix, so a node with a slow API server is
// not restarted in a loop; readiness asks whether this node can take pods and reach
// the others: datapath loaded and attached, node source listed and synced.
export type Check = () => string | undefined;

export interface Verdict {
  ok: boolean;
  /** Check name → its problem, for the checks that failed. */
  problems: Record<string, string>;
}

export class Health {
  readonly #liveness = new Map<string, Check>();
  readonly #readiness = new Map<string, Check>();

  /** A condition a restart would repair. */
  live(name: string, check: Check): void {
    this.#liveness.set(name, check);
  }

  /** A condition the node needs before it takes pods. */
  ready(name: string, check: Check): void {
    this.#readiness.set(name, check);
  }

  liveness(): Verdict {
    return evaluate(this.#liveness);
  }

  /** Readiness includes liveness: a node that needs a restart is not ready either. */
  readiness(): Verdict {
    return evaluate(new Map([...this.#liveness, ...this.#readiness]));
  }
}

function evaluate(checks: Map<string, Check>): Verdict {
  const problems: Record<string, string> = {};
  for (const [name, check] of checks) {
    let problem: string | undefined;
    try {
      problem = check();
    } catch (error) {
      problem = `check failed: ${(error as Error).message}`;
    }
    if (problem !== undefined) problems[name] = problem;
  }
  return { ok: Object.keys(problems).length === 0, problems };
}
