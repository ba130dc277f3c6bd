#!/usr/bin/env python3
"""Where a slice switch's time goes, from the points a run noted with RRVM_SLICE_TIMES=PREFIX (SliceTimes.swift).

  RRVM_SLICE_TIMES=/tmp/st rrctl up --bios none --kernel smp-contend.elf --smp 4
  Benchmarks/slice-times.py /tmp/st

Each hand-over from a slice to the next is cut into: the yielding hart building and sending its Yield, the Yield's
way to the sequencer (its polling, the decoding), the sequencer's turn (everything it does before the next Run has
left: device work due at that boundary included), the Run's way to the next hart (that hart getting the harts' CPU,
its polling, the decoding; shown apart for a next hart still polling and one that had stopped polling to wait in the
kernel, and for hand-overs in which other harts got the CPU first: "laps", each a process switch, which a split
cluster's turn board keeps rare) and that hart's start. Printed in microseconds: mean, median and 90th percentile over the hand-overs, with
their count. The clock is the host's monotonic clock, shared by all processes; a point costs a clock read (about
30 ns here).
"""
import bisect
import glob
import statistics
import sys

SLICE_ENDED, YIELD_SENT, RUN_ARRIVED, SLICE_STARTED, SLEEPS, LOOKS, RESTS, YIELD_ARRIVED, YIELD_HANDLED = \
    1, 2, 3, 4, 5, 6, 7, 11, 12


class BadFile(Exception):
    pass


def load(path):
    points = []
    with open(path, errors='replace') as lines:
        for number, line in enumerate(lines, 1):
            if line.startswith('#') or not line.strip():
                continue
            fields = line.split()
            if len(fields) != 3 or not all(field.isdigit() for field in fields):
                raise BadFile(f'{path}:{number}: not "point tag nanoseconds": {line.strip()[:60]!r}')
            points.append(tuple(int(field) for field in fields))
    return points


def hart_slices(points):
    """The hart's slices in order: when its Run arrived (and whether the hart slept before), when it started, ended
    and sent its Yield."""
    slices, current, slept = [], None, False
    for point, _, time in points:
        if point in (SLEEPS, RESTS):
            slept = True
        elif point == LOOKS:
            slept = False
        elif point == RUN_ARRIVED:
            current = {'arrived': time, 'slept': slept}
            slept = False
        elif current is None:
            continue
        elif point == SLICE_STARTED:
            current.setdefault('started', time)
        elif point == SLICE_ENDED:
            current['ended'] = time
        elif point == YIELD_SENT and 'ended' in current and 'started' in current:
            current['sent'] = time
            slices.append(current)
            current = None
    return slices


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ('-h', '--help'):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    prefix = sys.argv[1]
    try:
        sequencer = load(prefix + '.sequencer')
        harts, waits = {}, []
        for path in glob.glob(glob.escape(prefix) + '.hart-*'):
            suffix = path.rsplit('-', 1)[1]
            if suffix.isdigit():
                points = load(path)
                harts[int(suffix)] = hart_slices(points)
                waits += [(time, int(suffix)) for point, _, time in points if point in (LOOKS, RESTS)]
    except OSError as error:
        print(f'slice-times.py: {error} (run with RRVM_SLICE_TIMES={prefix} first)', file=sys.stderr)
        return 1
    except BadFile as error:
        print(f'slice-times.py: {error}', file=sys.stderr)
        return 1
    # The sequencer takes the Yields in the run's order; a hart's k-th Yield ends its k-th slice.
    yields, arrived = [], None
    for point, tag, time in sequencer:
        if point == YIELD_ARRIVED:
            arrived = (tag, time)
        elif point == YIELD_HANDLED and arrived is not None:
            yields.append((arrived[0], arrived[1], time))
            arrived = None
    taken = {hart: 0 for hart in harts}
    slices = []
    for hart, arrived, handled in yields:
        if hart not in harts or taken[hart] >= len(harts[hart]):
            print(f'slice-times.py: the sequencer took a Yield of hart {hart} that hart did not note', file=sys.stderr)
            return 1
        slices.append((hart, arrived, handled, harts[hart][taken[hart]]))
        taken[hart] += 1
    parts = {'yield built and sent': [], 'to the sequencer': [], "sequencer's turn": [],
             'to the next hart': [], '  it was polling': [], '  it had stopped polling': [],
             '  with laps': [], 'its start': [], 'whole hand-over': []}
    # When each hart looked for its Run or began to rest, in time order: a lap is another hart's, within a hand-over.
    waits.sort()
    wait_times = [time for time, _ in waits]
    for (hart, arrived, handled, this), (next_hart, _, _, following) in zip(slices, slices[1:]):
        first, last = bisect.bisect_left(wait_times, this['sent']), bisect.bisect_left(wait_times, following['arrived'])
        if any(waiter not in (hart, next_hart) for _, waiter in waits[first:last]):
            parts['  with laps'].append(following['arrived'] - handled)
        parts['yield built and sent'].append(this['sent'] - this['ended'])
        parts['to the sequencer'].append(arrived - this['sent'])
        parts["sequencer's turn"].append(handled - arrived)
        parts['to the next hart'].append(following['arrived'] - handled)
        parts['  it had stopped polling' if following['slept'] else '  it was polling'].append(following['arrived'] - handled)
        parts['its start'].append(following['started'] - following['arrived'])
        parts['whole hand-over'].append(following['started'] - this['ended'])
    if not parts['whole hand-over']:
        print('slice-times.py: fewer than two slices noted', file=sys.stderr)
        return 1
    print(f'{len(slices)} slices, {len(slices) - 1} hand-overs (microseconds)')
    print(f'{"":24} {"mean":>8} {"median":>8} {"p90":>8} {"count":>8}')
    for name, values in parts.items():
        if not values:
            continue
        ordered = sorted(values)
        print(f'{name:24} {statistics.mean(values) / 1000:8.2f} {ordered[len(ordered) // 2] / 1000:8.2f} '
              f'{ordered[int(len(ordered) * 0.9)] / 1000:8.2f} {len(values):8}')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): nothing more to say to it.
        sys.stderr.close()
        sys.exit(1)
