from __future__ import annotations

from tests.conftest import Street


async def test_report_reaches_member(street: Street) -> None:
    worker = street.person(2001, "王芳")
    member = street.person(1002, "张伟")
    await worker.send("/start")
    await worker.expect("欢迎")
    await member.send("/start")
    await member.expect("欢迎")
    await worker.send("/report")
    prompt = await worker.expect("类别")
    await worker.tap(prompt, "环境卫生")
    await worker.expect("描述")
    await worker.send("垃圾桶满溢")
    photos = await worker.expect("照片")
    await worker.tap(photos, "跳过")
    loc = await worker.expect("位置")
    await worker.send("幸福路12号")
    urg = await worker.expect("紧急吗")
    await worker.tap(urg, "一般")
    summary = await worker.expect("核对")
    await worker.tap(summary, "提交")
    await worker.expect("已上报")
    card = await member.expect("#1")
    print(card.text, card.buttons())
