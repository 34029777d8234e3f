//! Writers that take turns: the answers to pipelined requests, which `recv()` may hand to several
//! threads, leave in the order the requests came. (PATCH(airbyte-wrapper): the reader half is
//! gone; a request's body is read whole before it is handed on.)

use std::io::Result as IoResult;
use std::io::Write;

use std::sync::mpsc::channel;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

pub struct SequentialWriterBuilder<W>
where
    W: Write + Send,
{
    writer: Arc<Mutex<W>>,
    next_trigger: Option<Receiver<()>>,
}

pub struct SequentialWriter<W>
where
    W: Write + Send,
{
    trigger: Option<Receiver<()>>,
    writer: Arc<Mutex<W>>,
    on_finish: Sender<()>,
}

impl<W: Write + Send> SequentialWriterBuilder<W> {
    pub fn new(writer: W) -> SequentialWriterBuilder<W> {
        SequentialWriterBuilder {
            writer: Arc::new(Mutex::new(writer)),
            next_trigger: None,
        }
    }
}

impl<W: Write + Send> Iterator for SequentialWriterBuilder<W> {
    type Item = SequentialWriter<W>;
    fn next(&mut self) -> Option<SequentialWriter<W>> {
        let (tx, rx) = channel();
        let mut next_next_trigger = Some(rx);
        ::std::mem::swap(&mut next_next_trigger, &mut self.next_trigger);

        Some(SequentialWriter {
            trigger: next_next_trigger,
            writer: self.writer.clone(),
            on_finish: tx,
        })
    }
}

impl<W: Write + Send> SequentialWriter<W> {
    /// Waits for the writers before this one to finish. (PATCH(airbyte-wrapper): a writer before
    /// this one that is gone has finished too; this used to panic.)
    fn wait_turn(&mut self) {
        if let Some(v) = self.trigger.take() {
            let _ = v.recv();
        }
    }
}

impl<W: Write + Send> Write for SequentialWriter<W> {
    fn write(&mut self, buf: &[u8]) -> IoResult<usize> {
        self.wait_turn();
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(buf)
    }

    fn flush(&mut self) -> IoResult<()> {
        self.wait_turn();
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush()
    }
}

impl<W> Drop for SequentialWriter<W>
where
    W: Write + Send,
{
    fn drop(&mut self) {
        // The next writer may write once this one is done: wait for ours first, so that the
        // order holds even when a writer is dropped without writing.
        self.wait_turn();
        self.on_finish.send(()).ok();
    }
}
