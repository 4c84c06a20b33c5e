"""Paper-broker work in a process of its own, for the restart and race tests.

python -m tests.brokers.paper_worker submit DATA_DIR CID [CID ...]   -> {cid: order id}
python -m tests.brokers.paper_worker bar DATA_DIR YYYY-MM-DD          -> [fill, ...]
python -m tests.brokers.paper_worker state DATA_DIR                   -> account, positions
python -m tests.brokers.paper_worker cancel DATA_DIR ACCOUNT ORDER_ID  -> the order's status
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from engine.brokers import OrderRequest, PaperBroker
from engine.data.sample import sample_bars
from engine.store import Store


def main(argv: list[str]) -> None:
    command, data_dir, *rest = argv
    if command == "cancel":
        account, order_id = rest
        broker = PaperBroker(Store.open(data_dir), account=account, actor="trader")
        print(json.dumps(broker.cancel(order_id).status.value))
        return
    broker = PaperBroker(Store.open(data_dir))
    if command == "submit":
        out = {
            cid: broker.submit(
                OrderRequest(symbol="AAPL", side="buy", qty=1, client_order_id=cid)
            ).id
            for cid in rest
        }
    elif command == "bar":
        bars = sample_bars(["AAPL", "GE"], rest[0], rest[0], adjust=False)
        out = [asdict(f) for f in broker.process_bar(rest[0], bars)]
    elif command == "state":
        out = {
            "account": asdict(broker.account()),
            "positions": [asdict(p) for p in broker.positions()],
            "orders": [asdict(o) for o in broker.orders("all")],
        }
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
