/**
 * A one-line progress bar. On a TTY it redraws in place (carriage return); elsewhere it prints
 * a line at the start, at each quarter and at the end, so logs stay short.
 */
export interface ProgressBar {
  update(done: number): void;
  /** Completes the bar and ends its line. */
  finish(note?: string): void;
}

const WIDTH = 30;

export function progressBar(out: NodeJS.WriteStream, label: string, total: number): ProgressBar {
  const tty = out.isTTY === true;
  let lastQuarter = -1;
  let finished = false;
  const line = (done: number) => {
    const fraction = total <= 0 ? 1 : Math.min(1, done / total);
    const filled = Math.round(fraction * WIDTH);
    const percent = Math.floor(fraction * 100).toString().padStart(3);
    return `${label} [${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${percent}% ${done}/${total}`;
  };
  const update = (done: number) => {
    if (finished) return;
    if (tty) {
      out.write(`\r${line(done)}\x1b[K`);
      return;
    }
    const quarter = total <= 0 ? 4 : Math.floor((Math.min(done, total) / total) * 4);
    if (quarter > lastQuarter && quarter < 4) {
      lastQuarter = quarter;
      out.write(`${line(done)}\n`);
    }
  };
  update(0);
  return {
    update,
    finish(note?: string) {
      if (finished) return;
      finished = true;
      const text = `${line(total)}${note === undefined ? "" : `  ${note}`}`;
      out.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`);
    },
  };
}
