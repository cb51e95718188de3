package main

import (
	"fmt"
	"io"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress is the live progress bar, drawn with github.com/vbauerster/mpb/v8: maintained, it redraws on its
// own schedule from decorators that read the counters when drawing (no second ticker of ours to format
// text), and it draws nothing when its output is not a terminal, so a run logged to a file or CI keeps a
// clean log.
type progress struct {
	p    *mpb.Progress
	bar  *mpb.Bar
	stop chan struct{}
	done chan struct{}
}

// startProgress draws a bar on w of the run's progress: by time when byTime (total in milliseconds), else
// by steps answered (total steps: orders without -mix), with the orders' current rate and errors so far.
func startProgress(w io.Writer, rec *recorder, total int64, byTime bool) *progress {
	p := mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(100))
	counters := func(decor.Statistics) string {
		ok, failed, rate := rec.counts(time.Now())
		return fmt.Sprintf("%d orders  %d/s  %d errors", ok, rate, failed)
	}
	bar := p.AddBar(total,
		mpb.PrependDecorators(decor.Name("orders "), decor.Elapsed(decor.ET_STYLE_MMSS, decor.WC{W: 6})),
		mpb.AppendDecorators(decor.Any(counters, decor.WC{W: 36})),
	)
	pr := &progress{p: p, bar: bar, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-pr.stop:
				return
			case now := <-t.C:
				if byTime {
					bar.SetCurrent(min(total, now.Sub(rec.start).Milliseconds()))
				} else {
					bar.SetCurrent(min(total, rec.steps()))
				}
			}
		}
	}()
	return pr
}

// finish completes the bar and waits until it is drawn for the last time.
func (pr *progress) finish() {
	close(pr.stop)
	<-pr.done
	pr.bar.SetTotal(-1, true)
	pr.p.Wait()
}
