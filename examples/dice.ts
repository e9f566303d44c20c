// The dice game of kser's sequencing: an operation of three rolls, run one after the other, each
// receiving the results so far. `eventor run examples/dice.ts` runs it; examples/dice-cluster.ts
// sends it to consumers over NATS.
import { Operation, Result, Task } from 'eventor';

export class DiceRoll extends Task {
  override run(): Result {
    const launch = 1 + Math.floor(Math.random() * 6);
    return new Result({ uuid: this.uuid, stdout: `You made a ${launch}`, retval: { [`roll${String(this.params.roll)}`]: launch } });
  }
}

export class DiceLaunch extends Operation {
  override buildTasks(): Task[] {
    return [1, 2, 3].map((roll) => new DiceRoll({ params: { roll } }));
  }
}

export default () => new DiceLaunch().build();
