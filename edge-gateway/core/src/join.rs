//! Waiting for several futures at once on one thread, without a runtime.

/// Polls every future until all are ready, on one thread, like an isolate serving concurrent
/// requests: each pending future gives the others a turn (health probes, tests).
pub struct JoinAll<F: std::future::Future>(Vec<Option<std::pin::Pin<Box<F>>>>, Vec<Option<F::Output>>);

impl<F: std::future::Future> JoinAll<F> {
    /// Joins `futures`; the outputs come in the same order.
    pub fn new(futures: Vec<std::pin::Pin<Box<F>>>) -> JoinAll<F> {
        let outputs = futures.iter().map(|_| None).collect();
        JoinAll(futures.into_iter().map(Some).collect(), outputs)
    }
}

impl<F: std::future::Future> std::future::Future for JoinAll<F>
where
    F::Output: Unpin,
{
    type Output = Vec<F::Output>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Vec<F::Output>> {
        let this = self.get_mut();
        for (slot, out) in this.0.iter_mut().zip(this.1.iter_mut()) {
            if let Some(future) = slot
                && let std::task::Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *out = Some(value);
                *slot = None;
            }
        }
        if this.0.iter().all(Option::is_none) {
            std::task::Poll::Ready(
                this.1.iter_mut().map(|o| o.take().expect("every output is set")).collect(),
            )
        } else {
            std::task::Poll::Pending
        }
    }
}
