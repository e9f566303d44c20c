// The seed's DoJobber example: getting friends together to watch a movie, as idempotent jobs.
// Run it with `npx eventor run examples/movie-night.ts` (exit 1: the remote's batteries are dead),
// or `BATTERY_STATE=charged COUCH_SPACE=1 npx eventor run examples/movie-night.ts` to watch it.
// By itself: `npx tsx examples/movie-night.ts`, which also prints each job's status.
import { pathToFileURL } from 'node:url';
import { DoJobber, DummyJob, Job, RunonlyJob, type JobClass } from 'eventor';

const AVAILABLE_MOVIES = ['Noises Off', 'MST3K', 'Babylon 5'];

/** What every check and run is given (setArgs): the seed's command-line options, here from the environment. */
interface MovieArgs {
  movie: string;
  batteryState: string;
  couchSpace: boolean;
}

const counter = (job: Job, key: string): number => (job.globalStorage[key] as number | undefined) ?? 0;

/** Its check fails until its run has run: local storage lives for one try. */
class CleanCouch extends Job {
  override check() {
    if (!this.storage.runran) throw new Error('I fail unless run runs....');
  }
  override run() {
    this.storage.runran = true;
  }
  override cleanup() {
    // Runs after checknrun, for jobs whose run ran, last first.
  }
}

class FindTVRemote extends Job {
  override check() {}
  override run() {}
}

/** Always (re)fluffs: no check, the run decides. */
class FluffPillows extends RunonlyJob {
  override run() {}
}

/** Sets global storage that later jobs read. */
class PickTimeAndDate extends Job {
  static times = ['2024-04-08 18:18 UTC', '2099-09-14 16:57 UTC'];
  override check() {
    if (!this.globalStorage.startDateTime) throw new Error('no start time picked yet');
    return this.globalStorage.startDateTime;
  }
  override run() {
    this.globalStorage.startDateTime = PickTimeAndDate.times[Math.floor(Math.random() * PickTimeAndDate.times.length)];
  }
}

class ValidateMovie extends Job {
  override check({ movie }: MovieArgs) {
    if (!AVAILABLE_MOVIES.includes(movie)) throw new Error(`${movie} not one of the available movies.`);
  }
  override run() {}
}

class InsertDVD extends Job {
  static override deps = [ValidateMovie];
  override check() {}
  override run() {}
}

class PrepareRoom extends DummyJob {
  static override deps = [CleanCouch, FluffPillows];
}

/** Needs eight tries: the dishwasher takes its time. */
class PopcornBowl extends Job {
  static override tries = 8;
  static override retryDelay = 0.001;
  override check() {
    if (counter(this, 'bowlFailcount') < PopcornBowl.tries) throw new Error('Dishwasher cycle not done yet.');
  }
  override run() {
    this.globalStorage.bowlFailcount = counter(this, 'bowlFailcount') + 1;
  }
}

class Pizza extends RunonlyJob {
  static override tries = 3;
  override run() {
    this.globalStorage.pizzaFailcount = counter(this, 'pizzaFailcount') + 1;
    if (counter(this, 'pizzaFailcount') < Pizza.tries) throw new Error("Giordano's did not arrive yet.");
  }
}

class Popcorn extends Job {
  static override deps = [PopcornBowl];
  // Fewer tries than PopcornBowl: tries are counted per job.
  static override tries = PopcornBowl.tries - 3;
  override check() {
    if (counter(this, 'popFailcount') < Popcorn.tries) throw new Error('Still popping...');
  }
  override run() {
    this.globalStorage.popFailcount = counter(this, 'popFailcount') + 1;
  }
}

class Food extends DummyJob {
  static override deps = [Popcorn, Pizza];
}

class SitOnCouch extends Job {
  static override deps = [PrepareRoom];
  override check({ couchSpace }: MovieArgs) {
    if (!couchSpace) throw new Error('No space on couch.');
  }
  override run() {}
}

class DetermineDetails extends DummyJob {
  static override deps = [ValidateMovie, PickTimeAndDate];
}

/** Grows at run time: inviteFriends() adds a job per friend to its deps. */
class InviteFriends extends DummyJob {
  static override deps: JobClass[] = [DetermineDetails];
}

/** The base of the invitation jobs; not in any deps itself. */
class SendInvite extends Job {
  static override deps = [DetermineDetails];
  static email = '';
  static person = '';
  sent = false;
  override check() {
    if (!this.sent) throw new Error('invite not sent yet');
  }
  override run({ movie }: MovieArgs) {
    const { person, email } = this.constructor as typeof SendInvite;
    // A real job would send mail here.
    this.sent = `To ${person} <${email}>: come and watch ${movie} at ${String(this.globalStorage.startDateTime)} with me!`.length > 0;
  }
}

function inviteFriends(people: { name: string; email: string }[]): void {
  for (const { name, email } of people) {
    const job = class extends SendInvite {
      static override email = email;
      static override person = name;
    };
    Object.defineProperty(job, 'name', { value: `Invite ${name}` });
    InviteFriends.deps.push(job);
  }
}

class FriendsArrive extends Job {
  static override deps = [InviteFriends];
  override check() {}
  override run() {}
}

class TurnOnTV extends Job {
  static override deps = [FindTVRemote];
  override check({ batteryState }: MovieArgs) {
    if (batteryState !== 'charged') throw new Error('Remote batteries are dead.');
  }
  override run() {
    // Take the batteries out and put them back in: might that fix it?
  }
}

class StartMovie extends Job {
  static override deps = [FriendsArrive, PrepareRoom, TurnOnTV, InsertDVD, SitOnCouch, Food];
  override check() {}
  override run() {}
}

class WatchMovie extends Job {
  static override deps = [StartMovie];
  override check() {}
  override run() {}
}

let invited = false;

export default function build(): DoJobber {
  if (!invited) {
    inviteFriends([
      { name: 'Wendell Bagg', email: 'bagg@example.com' },
      { name: 'Lawyer Cat', email: 'lawyercat@example.com' },
    ]);
    invited = true;
  }
  // No store given: the rounds are kept in .eventor/movie-night, and `eventor recover` takes them up.
  const dojob = new DoJobber({ name: 'movie-night' });
  dojob.configure(WatchMovie, { verbose: true, noAct: process.env.NO_ACT === '1', defaultRetryDelay: 0 });
  const args: MovieArgs = { movie: process.env.MOVIE ?? AVAILABLE_MOVIES[0], batteryState: process.env.BATTERY_STATE ?? 'dead', couchSpace: process.env.COUCH_SPACE === '1' };
  dojob.setArgs(args);
  return dojob;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dojob = build();
  const ok = await dojob.run();
  await dojob.close();
  console.log(dojob.nodestatus());
  process.exitCode = ok ? 0 : 1;
}
