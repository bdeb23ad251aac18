/**
 * The pipeline's child starts, kept to what Temporal accepts: the children started in one workflow task carry at
 * most MAX_START_BYTES of input (a larger task completion is over Temporal's 4 MB message limit, and the server
 * terminates the pipeline), the rest wait for the next task; and all the children of the pipeline together at
 * most MAX_PIPELINE_INPUT_BYTES (its history holds every input): past it a start fails `InvalidPipelineSpec`.
 * Validation already refuses what it can measure before the run (src/shared/pipeline/check-size.ts); this covers
 * inputs made of earlier steps' outputs. Deterministic code only.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { PipelineFailureType } from '../../shared/failures';
import { MAX_PIPELINE_INPUT_BYTES, MAX_START_BYTES } from '../../shared/pipeline';

export class StartGate {
  /** bytes of starts sent and not yet acknowledged by Temporal (they go out in the task being built) */
  private inFlight = 0;
  private total = 0;
  /** starts waiting for room, in the order they asked */
  private readonly waiting: { bytes: number; admitted: boolean }[] = [];

  /** Wait until a start of `bytes` fits in the task being built; throws when the pipeline's total would pass. */
  async admit(bytes: number, what: string): Promise<void> {
    if (this.total + bytes > MAX_PIPELINE_INPUT_BYTES) {
      throw ApplicationFailure.nonRetryable(
        `${what}: the pipeline's predictions would take over ${this.total + bytes} bytes of input together, over the ${MAX_PIPELINE_INPUT_BYTES}-byte limit of one pipeline (its history holds every input); pass large data as URLs`,
        PipelineFailureType.InvalidSpec,
      );
    }
    this.total += bytes;
    const entry = { bytes, admitted: false };
    this.waiting.push(entry);
    this.pump();
    try {
      await condition(() => entry.admitted);
    } catch (error) {
      // canceled while waiting: give the room back (or the place in line)
      if (entry.admitted) this.started(bytes);
      else this.waiting.splice(this.waiting.indexOf(entry), 1);
      throw error;
    }
  }

  /** The start was acknowledged (or failed): its bytes no longer weigh on the task being built. */
  started(bytes: number): void {
    this.inFlight -= bytes;
    this.pump();
  }

  /**
   * Admit waiting starts in order while they fit, counting each at once (so two starts never both take the last
   * room); one start alone always goes, whatever its size (each input is limited on its own).
   */
  private pump(): void {
    for (let next = this.waiting[0]; next !== undefined; next = this.waiting[0]) {
      if (this.inFlight > 0 && this.inFlight + next.bytes > MAX_START_BYTES) return;
      this.waiting.shift();
      this.inFlight += next.bytes;
      next.admitted = true;
    }
  }
}
