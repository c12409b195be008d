"""The link contract (muwatch_fw.link): frame queues, flush order, back-pressure retry."""


def test_flush_order_backpressure_and_no_reordering(micropython):
    out = micropython.run(
        """
        import micropython
        from muwatch_fw.link import Link, FrameQueue, HEADROOM, KIND_EVENT, KIND_RESPONSE, KIND_DATA

        class Dev:
            def on_link_up(self, link): self.up = link
            def on_link_down(self, link): self.down = link

        class Fake(Link):
            kind = "fake"
            def __init__(self, dev):
                super().__init__(dev, 244)
                self.refuse = 0
                self.log = []
            def transmit(self, kind, slot, n):
                if self.refuse:
                    self.refuse -= 1
                    return False
                self.log.append((kind, slot[HEADROOM], n))
                return True
            def frame_budget(self):
                return 244

        d = Dev()
        l = Fake(d)
        l.on_connect()
        assert d.up is l and l.connected
        for i in range(3):
            b = l.data.slot(); b[HEADROOM] = i; l.data.commit(100 + i)
        b = l.events.slot(); b[HEADROOM] = 7; l.events.commit(10)
        b = l.responses.slot(); b[HEADROOM] = 9; l.responses.commit(12)
        l.refuse = 2
        assert not l.flush() and not l.flush()
        assert l.retries == 2 and l.log == [] and l.pending() == 5
        assert l.flush()
        print(l.log)
        # a full queue refuses a slot instead of overwriting
        for i in range(4):
            b = l.data.slot(); l.data.commit(5)
        print(l.data.slot() is None)
        # steady equal-length frames: view() is cached, no allocation while locked
        l.data.clear()
        for i in range(4):
            l.data.slot(); l.data.commit(50)
        for i in range(4):
            l.data.view(); l.data.pop()
        for i in range(4):
            l.data.slot(); l.data.commit(50)
        def locked(l):
            n = 0
            micropython.heap_lock()
            try:
                for i in range(4):
                    v = l.data.view(); n = len(v); l.data.pop()
                ok = l.flush()
            finally:
                micropython.heap_unlock()
            return n, ok
        n, ok = locked(l)
        print(n, ok, l.next_data_seq(), l.next_data_seq(), l.next_event_seq())
        l.on_disconnect()
        print(d.down is l, l.connected, l.pending())
        """
    )
    lines = out.strip().splitlines()
    assert lines[0] == "[(0, 7, 10), (1, 9, 12), (2, 0, 100), (2, 1, 101), (2, 2, 102)]"
    assert lines[1] == "True"
    assert lines[2] == "50 True 0 1 0"
    assert lines[3] == "True False 0"
