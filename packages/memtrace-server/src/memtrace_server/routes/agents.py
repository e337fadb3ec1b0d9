"""Agents (spec §1.8): register, list, get by id or name, their memories and stats, delete."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from memtrace.models import Agent, AgentList, AgentStats, MemoryList, RegisterAgentRequest

from .. import wire
from ..middleware import decode_segment
from .common import ERRORS, AgentIdPath, AgentOptions, Reader, Writer, state_of

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.post("", status_code=201, response_model=Agent, responses=ERRORS, summary="Register an agent")
async def register_agent(request: Request, principal: Writer, req: RegisterAgentRequest) -> Response:
    state = state_of(request)
    agent = await state.run(state.engine.register_agent, principal.org_id, req)
    return wire.json_response(agent, Agent, 201)


@router.get("", response_model=AgentList, responses=ERRORS, summary="List agents")
async def list_agents(request: Request, principal: Reader) -> Response:
    state = state_of(request)
    return wire.json_response(await state.run(state.engine.list_agents, principal.org_id), AgentList)


@router.get("/{agent_id}", response_model=Agent, responses=ERRORS, summary="Get an agent by id or name")
async def get_agent(request: Request, principal: Reader, agent_id: str) -> Response:
    state = state_of(request)
    agent = await state.run(state.engine.get_agent, principal.org_id, decode_segment(agent_id))
    return wire.json_response(agent, Agent)


@router.get(
    "/{agent_id}/memories",
    response_model=MemoryList,
    responses=ERRORS,
    summary="An agent's memories (last 24 h unless `since` is given)",
)
async def get_agent_memories(
    request: Request, principal: Reader, agent_id: AgentIdPath, opts: AgentOptions
) -> Response:
    state = state_of(request)
    result = await state.run(
        state.engine.get_agent_memories, principal.org_id, decode_segment(agent_id), opts
    )
    state.metrics.queries.labels("agent_memories").inc()
    return wire.json_response(result, MemoryList)


@router.get("/{agent_id}/stats", response_model=AgentStats, responses=ERRORS, summary="An agent's stats")
async def get_agent_stats(request: Request, principal: Reader, agent_id: AgentIdPath) -> Response:
    state = state_of(request)
    stats = await state.run(state.engine.get_agent_stats, principal.org_id, decode_segment(agent_id))
    state.metrics.queries.labels("stats").inc()
    return wire.json_response(stats, AgentStats)


@router.delete(
    "/{agent_id}", status_code=204, responses=ERRORS, summary="Delete an agent (its memories stay)"
)
async def delete_agent(request: Request, principal: Writer, agent_id: str) -> Response:
    state = state_of(request)
    await state.run(
        state.engine.delete_agent, principal.org_id, decode_segment(agent_id), actor=principal.actor()
    )
    return Response(status_code=204)
