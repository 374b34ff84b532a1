// How the web app uses the types: a lead created and read back, fully typed. `make types`
// compiles this file against the freshly written wiizo-api.d.ts.
import type { components, paths } from "./wiizo-api";

type Lead = components["schemas"]["Lead"];
type NewLead = paths["/api/leads"]["post"]["requestBody"]["content"]["application/json"];
type Created = paths["/api/leads"]["post"]["responses"][201]["content"]["application/json"];
type LeadPage = paths["/api/leads"]["get"]["responses"][200]["content"]["application/json"];
type Failure = components["schemas"]["Failure"];

export const novo: NewLead = {
  name: "Maria Souza",
  phone: "+55 11 98765-4321",
  custom_fields: { interesse: "encomendas para festas" },
};

export function nome(answer: Created): string {
  return answer.data.name;
}

export function proximos(page: LeadPage): Lead[] {
  return page.pagination.hasNext ? page.data : [];
}

export function motivo(failure: Failure): string {
  return `${failure.error.code}: ${failure.error.message}`;
}

export const mensagem: paths["/api/conversations/{id}/messages"]["post"]["requestBody"]["content"]["application/json"] =
  { content: "Olá! Como posso ajudar?", type: "text", metadata: { origem: "painel" } };
